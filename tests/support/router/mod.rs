//! A router in a directory: a root holding only BusyBox (Debian busybox-static, as on OpenWrt),
//! our static binary, optionally Dropbear (Debian's dropbear-bin with the shared libraries it
//! links) and, for an "OpenWrt" root, /etc/openwrt_release plus test stand-ins for what
//! OpenWrt's base system would run: /etc/rc.common with procd, `uci`, /etc/init.d/firewall
//! (the scripts beside this file say exactly what each stands in for). No bash, no coreutils,
//! no openssh-sftp-server.
#![allow(dead_code)] // each test crate uses part of it

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const BUSYBOX: &str = "/bin/busybox";
const MUSL: &str = "x86_64-unknown-linux-musl";
pub const RC_COMMON: &str = include_str!("rc.common");
pub const UCI: &str = include_str!("uci");
pub const FIREWALL: &str = include_str!("firewall");
pub const LOGREAD: &str = include_str!("logread");

/// The static musl binary: `QNETD_STATIC_BIN` if set (tools/test.sh builds it), else built
/// here for x86_64-unknown-linux-musl into this test's own target directory.
pub fn static_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("QNETD_STATIC_BIN") {
        return PathBuf::from(p);
    }
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-build");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--bin", "qnetd", "--target", MUSL])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", &target_dir)
        // ring compiles a little C; without a musl cross compiler the host's cc does for x86_64
        // (ring's C code needs no libc headers).
        .env(
            "CC_x86_64_unknown_linux_musl",
            std::env::var("CC_x86_64_unknown_linux_musl").unwrap_or_else(|_| "cc".into()),
        )
        .status()
        .expect("run cargo");
    assert!(status.success(), "static build failed");
    target_dir.join(MUSL).join("debug/qnetd")
}

/// True if the ELF file has no PT_INTERP program header (no dynamic loader needed).
pub fn is_static_elf(path: &Path) -> bool {
    let elf = fs::read(path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(elf[4], 2, "64-bit ELF expected");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .all(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap()) != 3)
}

pub fn copy_exec(from: &Path, to: &Path) {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
}

fn write_exec(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

pub struct RouterRoot {
    pub path: PathBuf,
}

impl RouterRoot {
    /// BusyBox with every applet linked in /bin, /tmp/qnetd (the binary as scp'd), root's
    /// account; with `openwrt`, the release file and the stand-ins.
    pub fn build(path: &Path, binary: &Path, openwrt: bool) -> RouterRoot {
        let _ = fs::remove_dir_all(path);
        for d in [
            "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "var/run", "dev", "proc",
            "lib",
        ] {
            fs::create_dir_all(path.join(d)).unwrap();
        }
        fs::set_permissions(path.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::set_permissions(path.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
        copy_exec(Path::new(BUSYBOX), &path.join("bin/busybox"));
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
            let _ = std::os::unix::fs::symlink("busybox", path.join("bin").join(applet));
        }
        fs::write(
            path.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/var:/bin/false\n",
        )
        .unwrap();
        fs::write(path.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        // Dropbear refuses a locked account ("!"/"*"): an empty-password-hash-free entry.
        fs::write(path.join("etc/shadow"), "root:x:0:0:99999:7:::\n").unwrap();
        copy_exec(binary, &path.join("tmp/qnetd"));
        if openwrt {
            fs::write(
                path.join("etc/openwrt_release"),
                "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='24.10.0'\nDISTRIB_TARGET='x86/64'\n",
            )
            .unwrap();
            write_exec(&path.join("etc/rc.common"), RC_COMMON);
            write_exec(&path.join("sbin/uci"), UCI);
            write_exec(&path.join("etc/init.d/firewall"), FIREWALL);
            write_exec(&path.join("sbin/logread"), LOGREAD);
        }
        RouterRoot {
            path: path.to_path_buf(),
        }
    }

    /// A path inside the root, as the host sees it.
    pub fn file(&self, inside: &str) -> PathBuf {
        self.path.join(inside.trim_start_matches('/'))
    }

    /// Debian's Dropbear and the shared libraries it links (ldd), plus a host key. Returns
    /// the public host key line (`ssh-ed25519 AAAA...`), for the client's known_hosts.
    pub fn add_dropbear(&self) -> String {
        for prog in ["/usr/sbin/dropbear", "/usr/bin/dropbearkey"] {
            copy_exec(Path::new(prog), &self.file(prog));
            for lib in shared_libraries(Path::new(prog)) {
                let to = self.file(&lib.to_string_lossy());
                if !to.exists() {
                    copy_exec(&lib, &to);
                }
            }
        }
        fs::create_dir_all(self.file("/etc/dropbear")).unwrap();
        let key = "/etc/dropbear/dropbear_ed25519_host_key";
        let out = self.chroot(&["/usr/bin/dropbearkey", "-t", "ed25519", "-f", key]);
        assert!(out.status.success(), "dropbearkey: {out:?}");
        let out = self.chroot(&["/usr/bin/dropbearkey", "-y", "-f", key]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.starts_with("ssh-ed25519 "))
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no public key from dropbearkey -y: {text}"))
    }

    /// Runs a command chrooted into the root (from the test's own namespaces).
    pub fn chroot(&self, args: &[&str]) -> std::process::Output {
        Command::new("chroot")
            .arg(&self.path)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .expect("run chroot")
    }

    /// Every file below the root with its type, mode and size (or link target), sorted: two
    /// listings differ exactly when something was created, removed or changed in kind/mode/size.
    pub fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        list_into(&self.path, &self.path, &mut out);
        out.sort();
        out
    }
}

fn list_into(root: &Path, dir: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let t = fs::read_link(&p).unwrap_or_default();
            out.push(format!("{rel} -> {}", t.display()));
        } else if meta.is_dir() {
            out.push(format!("{rel}/ {:o}", meta.mode() & 0o7777));
            list_into(root, &p, out);
        } else {
            out.push(format!("{rel} {:o} {}", meta.mode() & 0o7777, meta.len()));
        }
    }
}

/// The shared libraries a dynamic executable loads, with the loader (from ldd).
pub fn shared_libraries(prog: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(prog).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect()
}
