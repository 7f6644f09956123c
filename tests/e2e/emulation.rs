//! Our binary in the lab, natively or as a foreign router build under qemu-user.
//!
//! `QNETD_QEMU=qemu-mips-static QNETD_BIN=dist/qnetd-mips-unknown-linux-musl` runs the
//! big-endian MIPS build: every daemon-side program in the lab (`qnetd`, `corosync-qnetd`,
//! `corosync-qnetd-certutil`, `corosync-qnetd-tool`) is then a small shell script that logs
//! its call and execs qemu on the foreign binary (reached through its argv[0] symlink, which
//! is how the binary picks its personality). No binfmt_misc registration is needed, and the
//! emulated processes live in the hosts' namespaces like native ones: the daemon *is* the
//! qemu process (the script execs). `QNETD_E2E_TIME_SCALE` (lab.rs) stretches the waits.
//!
//! Proof that the foreign build served, checked by `Bed::start_daemon` and `Bed::enroll_all`:
//! the daemon's /proc/PID/exe is qemu and its command line names the foreign binary, and the
//! call log shows that the CA and the node certificate came from the foreign certutil.

use crate::lab;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The names our multi-call binary answers to in the lab.
const PROGRAMS: &[&str] = &[
    "qnetd",
    "corosync-qnetd",
    "corosync-qnetd-certutil",
    "corosync-qnetd-tool",
];

/// Puts the binary and its argv[0] symlinks into `dir`.
pub fn install_native(bin: &Path, dir: &Path) {
    // The binary itself goes into the lab: each host gets its own /tmp, so a binary under
    // /tmp (a checkout there) would be invisible inside the hosts.
    let inside = dir.join("qnetd");
    if fs::hard_link(bin, &inside).is_err() {
        fs::copy(bin, &inside).expect("copy the qnetd binary into the lab");
    }
    for alias in &PROGRAMS[1..] {
        std::os::unix::fs::symlink("qnetd", dir.join(alias)).expect("symlink");
    }
}

/// A foreign build of ours run under qemu-user.
#[derive(Debug)]
pub struct Emulation {
    /// Absolute path of the emulator (what the daemon's /proc/PID/exe must show).
    pub qemu: PathBuf,
    /// Directory with the foreign binary and its argv[0] symlinks.
    foreign_dir: PathBuf,
    /// One line per call of a daemon-side program: "<program> <args>".
    calls: PathBuf,
}

impl Emulation {
    /// From `QNETD_QEMU` (a program on PATH or a path); None when unset or empty.
    pub fn from_env() -> Option<Emulation> {
        let name = std::env::var("QNETD_QEMU").ok().filter(|v| !v.is_empty())?;
        let qemu = if name.contains('/') {
            PathBuf::from(&name)
        } else {
            lab::find_in_path(&name).unwrap_or_else(|| {
                panic!("QNETD_QEMU={name}: not found on PATH (qemu-user-static)")
            })
        };
        let qemu = fs::canonicalize(&qemu)
            .unwrap_or_else(|e| panic!("QNETD_QEMU={name}: {}: {e}", qemu.display()));
        Some(Emulation {
            qemu,
            foreign_dir: PathBuf::new(),
            calls: PathBuf::new(),
        })
    }

    pub fn label(&self) -> String {
        self.qemu
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The foreign binary and its symlinks go to `dir/foreign`; `dir` gets one wrapper script
    /// per program name.
    pub fn install(&mut self, bin: &Path, dir: &Path) {
        self.foreign_dir = dir.join("foreign");
        self.calls = dir.join("emulated-calls.log");
        fs::create_dir_all(&self.foreign_dir).expect("create the foreign binary dir");
        install_native(bin, &self.foreign_dir);
        let describe = elf_description(&self.foreign_dir.join("qnetd"));
        println!(
            "    our binary under {}: {} ({describe})",
            self.label(),
            bin.display()
        );
        for name in PROGRAMS {
            self.write_wrapper(dir, name);
        }
    }

    fn write_wrapper(&self, dir: &Path, name: &str) {
        let quote = |p: &Path| {
            let s = p.display().to_string();
            assert!(!s.contains('\''), "path with a quote: {s}");
            format!("'{s}'")
        };
        let script = format!(
            "#!/bin/sh\n# {name}: the foreign build under qemu-user (tests/e2e/emulation.rs)\n\
             echo \"{name} $*\" >> {calls}\n\
             exec {qemu} {target} \"$@\"\n",
            calls = quote(&self.calls),
            qemu = quote(&self.qemu),
            target = quote(&self.foreign_dir.join(name)),
        );
        let path = dir.join(name);
        fs::write(&path, script).expect("write the qemu wrapper");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod the wrapper");
    }

    /// Fails unless process `pid` is qemu running the foreign `corosync-qnetd`; returns a
    /// one-line description for the test output.
    pub fn check_daemon(&self, pid: u32) -> String {
        let exe = fs::read_link(format!("/proc/{pid}/exe"))
            .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/exe: {e}"));
        assert_eq!(
            exe,
            self.qemu,
            "the daemon (pid {pid}) is not the emulator: /proc/{pid}/exe -> {}",
            exe.display()
        );
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let want = self.foreign_dir.join("corosync-qnetd");
        assert_eq!(
            args.get(1).map(PathBuf::from),
            Some(want.clone()),
            "the emulator (pid {pid}) does not run {}: {args:?}",
            want.display()
        );
        let target = fs::canonicalize(&want).unwrap_or(want);
        format!(
            "daemon pid {pid}: /proc/{pid}/exe -> {}, running {} ({})",
            exe.display(),
            args[1],
            elf_description(&target)
        )
    }

    /// Fails unless the certutil calls pvecm's sequence makes (`-i`, then `-s` per cluster)
    /// went to the foreign binary; returns how many there were.
    pub fn check_certutil_calls(&self) -> usize {
        let log = fs::read_to_string(&self.calls).unwrap_or_default();
        let calls: Vec<&str> = log
            .lines()
            .filter(|l| l.starts_with("corosync-qnetd-certutil "))
            .collect();
        for flag in ["-i", "-s"] {
            assert!(
                calls
                    .iter()
                    .any(|l| l.split_whitespace().nth(1) == Some(flag)),
                "no `corosync-qnetd-certutil {flag}` went to the emulated binary; calls:\n{log}"
            );
        }
        calls.len()
    }
}

/// "ELF 32-bit MSB, MIPS" and the like, from the header (no `file` needed).
pub fn elf_description(path: &Path) -> String {
    let head = fs::read(path)
        .map(|b| b[..b.len().min(20)].to_vec())
        .unwrap_or_default();
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        return "not an ELF file".to_string();
    }
    let bits = if head[4] == 2 { 64 } else { 32 };
    let big = head[5] == 2;
    let machine = if big {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    };
    let arch = match machine {
        8 => "MIPS".to_string(),
        40 => "ARM".to_string(),
        62 => "x86-64".to_string(),
        183 => "AArch64".to_string(),
        m => format!("machine {m}"),
    };
    format!("ELF {bits}-bit {}, {arch}", if big { "MSB" } else { "LSB" })
}
