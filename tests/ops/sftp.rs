//! The built-in SFTP server (sftp/) against OpenSSH's real clients, side by side with
//! Debian's /usr/lib/openssh/sftp-server, and against hostile input.
//!
//! `sftp -D SERVER` and `scp -S WRAPPER` talk to a local server over pipes: no sshd needed.
//! Needs openssh-client and openssh-sftp-server (tools/test.sh installs them); the
//! permission test runs as `nobody` through setpriv, so it needs root (skipped otherwise).

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const OPENSSH_SERVER: &str = "/usr/lib/openssh/sftp-server";
/// Every client run is bounded: a server that stops answering fails the test, not hangs it.
const RUN_LIMIT: Duration = Duration::from_secs(120);

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("qnetd-sftp-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        // Reachable by `nobody` in the permission test.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn qnetd() -> &'static str {
    env!("CARGO_BIN_EXE_qnetd")
}

/// A symlink named `sftp-server` to our binary: the argv[0] entry point.
fn ours_as_sftp_server(dir: &Path) -> PathBuf {
    let link = dir.join("sftp-server");
    std::os::unix::fs::symlink(qnetd(), &link).unwrap();
    link
}

fn have(path: &str) -> bool {
    Path::new(path).exists()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion within [`RUN_LIMIT`] (killed and failed beyond it).
fn run(mut cmd: Command) -> Run {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = wait_bounded(&mut child, RUN_LIMIT).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("{shown} still running after {RUN_LIMIT:?}")
    });
    Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Deterministic pseudo-random bytes (xorshift), so a transfer that reorders or drops a
/// chunk cannot go unnoticed.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = u64::from(seed) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Everything under `root` that a transfer can change: path, kind, mode, size, owner, content
/// (as a hash) or link target.
fn snapshot(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let what = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                "dir".to_string()
            } else {
                format!(
                    "size {} fnv {:x}",
                    m.len(),
                    fnv(&std::fs::read(&p).unwrap())
                )
            };
            out.push(format!(
                "{rel} {:o} {}:{} {what}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            ));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// `sftp -b` output with the dates of `ls -l` lines removed (the two runs are seconds apart)
/// and the test directory replaced by DIR.
fn normalise(text: &str, dir: &Path) -> String {
    let text = text.replace(dir.to_str().unwrap(), "DIR");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let is_ls = f.len() >= 9 && f[0].len() == 10 && "-dlcbps".contains(&f[0][..1]);
            if is_ls {
                [&f[..5], &f[8..]].concat().join(" ")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One server's run of a batch: `dir/local` is the client's directory, `dir/remote` the
/// server's start directory (given with -d, which both servers take).
struct Side {
    dir: TempDir,
    result: Option<Run>,
}

fn sftp_batch(server: &Path, setup: &dyn Fn(&Path), batch: &str, as_nobody: bool) -> Side {
    let dir = TempDir::new("side");
    let (local, remote) = (dir.0.join("local"), dir.0.join("remote"));
    std::fs::create_dir(&local).unwrap();
    std::fs::create_dir(&remote).unwrap();
    setup(&dir.0);
    let batch_file = dir.0.join("batch");
    std::fs::write(&batch_file, batch).unwrap();
    let server_cmd = format!("{} -d {}", server.display(), remote.display());
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "sftp",
        ]);
        c
    } else {
        Command::new("sftp")
    };
    cmd.arg("-b")
        .arg(&batch_file)
        .arg("-D")
        .arg(&server_cmd)
        .current_dir(&local);
    let result = Some(run(cmd));
    Side { dir, result }
}

/// Runs `batch` against our server (through the argv[0] name) and OpenSSH's, each in a fresh
/// directory prepared by `setup`, and asserts the same exit code, the same client output and
/// the same resulting files.
fn side_by_side(setup: &dyn Fn(&Path), batch: &str, as_nobody: bool) -> (Side, Side) {
    let bin = TempDir::new("bin");
    let ours = ours_as_sftp_server(&bin.0);
    let a = sftp_batch(&ours, setup, batch, as_nobody);
    let b = sftp_batch(Path::new(OPENSSH_SERVER), setup, batch, as_nobody);
    let (ra, rb) = (a.result.as_ref().unwrap(), b.result.as_ref().unwrap());
    let show = format!(
        "ours: code {:?}\n{}\n{}\nopenssh: code {:?}\n{}\n{}",
        ra.code, ra.stdout, ra.stderr, rb.code, rb.stdout, rb.stderr
    );
    assert_eq!(ra.code, rb.code, "exit codes differ\n{show}");
    assert_eq!(
        normalise(&ra.stdout, &a.dir.0),
        normalise(&rb.stdout, &b.dir.0),
        "{show}"
    );
    assert_eq!(
        normalise(&ra.stderr, &a.dir.0),
        normalise(&rb.stderr, &b.dir.0),
        "{show}"
    );
    assert_eq!(
        snapshot(&a.dir.0),
        snapshot(&b.dir.0),
        "resulting files differ\n{show}"
    );
    (a, b)
}

const BIG: usize = 20 * 1024 * 1024;

fn transfer_setup(dir: &Path) {
    std::fs::write(dir.join("local/big.bin"), pattern(BIG, 7)).unwrap();
    std::fs::write(dir.join("local/small.txt"), b"small file\n").unwrap();
    std::fs::write(dir.join("remote/there.txt"), b"already on the server\n").unwrap();
    let exec = dir.join("local/run.sh");
    std::fs::write(&exec, b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&exec, std::fs::Permissions::from_mode(0o750)).unwrap();
}

/// put/get (a 20 MB file too), ls -l, mkdir, rename, chmod (-h: lsetstat), symlink, ln, cp
/// (copy-data), rm, rmdir, a missing file both ways; the last command fails, so both clients exit 1.
const TRANSFER_BATCH: &str = "\
put big.bin
put small.txt
put -p run.sh
-put missing.txt
get there.txt there.back
copy there.txt there.copy
get big.bin big.back
ls -l
mkdir sub
mkdir sub/deeper
rename small.txt sub/small.txt
-rename there.txt sub/small.txt
chmod 640 sub/small.txt
symlink sub/small.txt link
ln sub/small.txt hard
chmod -h 604 hard
-chmod -h 600 link
ln -s there.txt soft
ls -l sub
ls -la
-get nothere.txt
-rm nothere.txt
rm hard
rmdir sub/deeper
-rmdir sub
cd sub
pwd
cd ..
lls
get nothere.txt
";

#[test]
fn batch_side_by_side_with_openssh() {
    if !have(OPENSSH_SERVER) || !have("/usr/bin/sftp") {
        eprintln!("skipped: needs openssh-client and openssh-sftp-server");
        return;
    }
    let (ours, _) = side_by_side(&transfer_setup, TRANSFER_BATCH, false);
    let r = ours.result.as_ref().unwrap();
    assert_eq!(r.code, Some(1), "the last command fails: {}", r.stderr);
    // The batch did what it says (the same for both, checked above).
    let remote = ours.dir.0.join("remote");
    assert_eq!(
        std::fs::read(remote.join("big.bin")).unwrap(),
        pattern(BIG, 7)
    );
    assert_eq!(
        std::fs::read(ours.dir.0.join("local/big.back")).unwrap(),
        pattern(BIG, 7)
    );
    // chmod 640, then chmod -h 604 through its hard link
    let small = std::fs::metadata(remote.join("sub/small.txt")).unwrap();
    assert_eq!(small.mode() & 0o777, 0o604);
    assert_eq!(
        std::fs::read(remote.join("there.copy")).unwrap(),
        b"already on the server\n"
    );
    assert_eq!(
        std::fs::read_link(remote.join("link")).unwrap(),
        Path::new("sub/small.txt")
    );
    assert_eq!(
        std::fs::metadata(remote.join("run.sh")).unwrap().mode() & 0o777,
        0o750
    );
    assert!(
        r.stderr.contains("No such file or directory"),
        "{}",
        r.stderr
    );
}

fn permission_setup(dir: &Path) {
    use std::os::unix::fs::chown;
    let remote = dir.join("remote");
    std::fs::write(remote.join("secret"), b"root only\n").unwrap();
    std::fs::set_permissions(
        remote.join("secret"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::create_dir(remote.join("ro")).unwrap();
    std::fs::write(remote.join("ro/file"), b"readable\n").unwrap();
    std::fs::create_dir(remote.join("mine")).unwrap();
    std::fs::write(dir.join("local/up.txt"), b"upload\n").unwrap();
    for p in [
        dir.join("local"),
        dir.join("local/up.txt"),
        remote.join("mine"),
    ] {
        chown(&p, Some(65534), Some(65534)).unwrap();
    }
}

/// As `nobody`: permission errors on read, write, mkdir, remove, rename, chmod; what nobody
/// may do still works; the batch ends well, so both clients exit 0.
const PERMISSION_BATCH: &str = "\
-get secret
-put up.txt ro/up.txt
-put up.txt secret
-mkdir ro/sub
-rm ro/file
-rename ro/file mine/file
-chmod 777 ro
-symlink secret ro/link
get ro/file
put up.txt mine/up.txt
chmod 604 mine/up.txt
ls -l mine
";

#[test]
fn permission_errors_side_by_side_as_nobody() {
    if !have(OPENSSH_SERVER) || !have("/usr/bin/sftp") || !have("/usr/bin/setpriv") || !is_root() {
        eprintln!("skipped: needs root, setpriv, openssh-client and openssh-sftp-server");
        return;
    }
    let (ours, _) = side_by_side(&permission_setup, PERMISSION_BATCH, true);
    let r = ours.result.as_ref().unwrap();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stderr.matches("Permission denied").count(),
        8,
        "{}",
        r.stderr
    );
    let up = std::fs::metadata(ours.dir.0.join("remote/mine/up.txt")).unwrap();
    assert_eq!((up.uid(), up.mode() & 0o777), (65534, 0o604));
}

/// `qnetd sftp-server -R`: reads work, every write is refused.
#[test]
fn read_only_flag() {
    if !have("/usr/bin/sftp") {
        eprintln!("skipped: needs openssh-client");
        return;
    }
    let dir = TempDir::new("ro");
    std::fs::write(dir.0.join("f"), b"data\n").unwrap();
    let batch = "get f g\n-put g h\n-mkdir d\n-rm f\n-rename f x\n-chmod 600 f\nls\n";
    std::fs::write(dir.0.join("batch"), batch).unwrap();
    let mut cmd = Command::new("sftp");
    cmd.args(["-b", "batch", "-D"])
        .arg(format!("{} sftp-server -R", qnetd()))
        .current_dir(&dir.0);
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(std::fs::read(dir.0.join("g")).unwrap(), b"data\n");
    assert_eq!(
        r.stderr.matches("Permission denied").count(),
        5,
        "{}",
        r.stderr
    );
    let left: Vec<_> = snapshot(&dir.0)
        .into_iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(left, ["batch", "f", "g"]);
    assert_eq!(
        std::fs::metadata(dir.0.join("f")).unwrap().mode() & 0o777,
        0o644
    );
}

/// scp's wrapper: ignores ssh's arguments (recording them) and runs the server in `remote`.
fn scp_wrapper(dir: &Path, server: &str, remote: &Path) -> PathBuf {
    let wrapper = dir.join("fake-ssh");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > {}/ssh-args\nexec {server} -d {}\n",
        dir.display(),
        remote.display()
    );
    std::fs::write(&wrapper, script).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

fn scp(dir: &Path, wrapper: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new("scp");
    cmd.arg("-S")
        .arg(wrapper)
        .args(args)
        .current_dir(dir.join("local"));
    let r = run(cmd);
    // SFTP mode: ssh is asked for the sftp subsystem (legacy scp -O would run `scp -t`).
    let ssh_args = std::fs::read_to_string(dir.join("ssh-args")).unwrap();
    let ssh_args: Vec<&str> = ssh_args.lines().collect();
    assert!(
        ssh_args.ends_with(&["-s", "--", "router", "sftp"]),
        "{ssh_args:?}"
    );
    r
}

/// `scp` and `scp -p` both ways against ours (`qnetd sftp-server`) and OpenSSH's server:
/// contents, and with -p modes and times, arrive; the results are the same for both.
#[test]
fn scp_both_ways_with_and_without_p() {
    if !have(OPENSSH_SERVER) || !have("/usr/bin/scp") {
        eprintln!("skipped: needs openssh-client and openssh-sftp-server");
        return;
    }
    let ours_cmd = format!("{} sftp-server", qnetd());
    let mut snapshots = Vec::new();
    for server in [ours_cmd.as_str(), OPENSSH_SERVER] {
        let dir = TempDir::new("scp");
        let (local, remote) = (dir.0.join("local"), dir.0.join("remote"));
        std::fs::create_dir(&local).unwrap();
        std::fs::create_dir(&remote).unwrap();
        let wrapper = scp_wrapper(&dir.0, server, &remote);
        let mtime = 1_500_000_000; // 2017: unlike anything "now"
        for (side, name, mode) in [(&local, "up", 0o751), (&remote, "down", 0o640)] {
            for p in ["", "-p"] {
                let f = side.join(format!("{name}{p}.bin"));
                std::fs::write(&f, pattern(300_000, mode)).unwrap();
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
                let t = std::time::UNIX_EPOCH + Duration::from_secs(mtime);
                let times = std::fs::FileTimes::new().set_modified(t).set_accessed(t);
                std::fs::File::options()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_times(times)
                    .unwrap();
            }
        }
        for args in [
            &["up.bin", "router:up.copy"][..],
            &["-p", "up-p.bin", "router:up-p.copy"],
            &["router:down.bin", "down.copy"],
            &["-p", "router:down-p.bin", "down-p.copy"],
        ] {
            let r = scp(&dir.0, &wrapper, args);
            assert_eq!(r.code, Some(0), "{server} scp {args:?}: {}", r.stderr);
        }
        let check = |copy: PathBuf, mode: u32, preserved: bool| {
            let m = std::fs::metadata(&copy).unwrap();
            assert_eq!(
                std::fs::read(&copy).unwrap(),
                pattern(300_000, mode),
                "{}",
                copy.display()
            );
            assert_eq!(
                m.mtime() == mtime as i64,
                preserved,
                "{server}: mtime of {}",
                copy.display()
            );
            assert_eq!(
                m.atime() == mtime as i64,
                preserved,
                "{server}: atime of {}",
                copy.display()
            );
            if preserved {
                assert_eq!(
                    m.mode() & 0o7777,
                    mode,
                    "{server}: mode of {}",
                    copy.display()
                );
            }
        };
        check(remote.join("up.copy"), 0o751, false);
        check(remote.join("up-p.copy"), 0o751, true);
        check(local.join("down.copy"), 0o640, false);
        check(local.join("down-p.copy"), 0o640, true);
        // A missing remote file: an error exit, nothing created.
        let r = scp(&dir.0, &wrapper, &["router:nothere", "x"]);
        assert_eq!(r.code, Some(1), "{}", r.stderr);
        assert!(
            r.stderr.contains("No such file or directory"),
            "{}",
            r.stderr
        );
        std::fs::remove_file(dir.0.join("ssh-args")).unwrap();
        std::fs::remove_file(&wrapper).unwrap();
        snapshots.push(snapshot(&dir.0));
    }
    assert_eq!(snapshots[0], snapshots[1]);
}

// ---- hostile input, through a raw client ----

/// A server child with a raw packet interface; replies are read by a thread so that every
/// wait has a deadline.
struct Raw {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<Vec<u8>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

const WAIT: Duration = Duration::from_secs(10);

impl Raw {
    fn start(dir: &Path) -> Raw {
        Raw::start_program(dir, qnetd(), &["sftp-server"])
    }

    fn start_program(dir: &Path, program: &str, args: &[&str]) -> Raw {
        let mut child = Command::new(program)
            .args(args)
            .env("TZ", "UTC") // OpenSSH's long names are in local time, ours in UTC
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || loop {
            let mut len = [0u8; 4];
            if out.read_exact(&mut len).is_err() {
                return;
            }
            let mut body = vec![0; u32::from_be_bytes(len) as usize];
            if out.read_exact(&mut body).is_err() || tx.send(body).is_err() {
                return;
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Raw {
            stdin: child.stdin.take(),
            child,
            replies,
            stderr: Some(stderr),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap();
        self.stdin.as_mut().unwrap().flush().unwrap();
    }

    /// Sends bytes the server may have stopped reading: it is allowed to exit on what came
    /// before them, and then the pipe is closed (EPIPE) before or while they are written.
    fn send_raw_racing_exit(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        match stdin.write_all(bytes).and_then(|()| stdin.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write: {e}"),
            _ => {}
        }
    }

    fn send(&mut self, body: &[u8]) {
        let mut framed = (body.len() as u32).to_be_bytes().to_vec();
        framed.extend_from_slice(body);
        self.send_raw(&framed);
    }

    fn recv(&mut self) -> Vec<u8> {
        self.replies
            .recv_timeout(WAIT)
            .expect("no reply within 10 s")
    }

    fn init(&mut self) {
        self.send(&[1, 0, 0, 0, 3]);
        let v = self.recv();
        assert_eq!(&v[..5], &[2, 0, 0, 0, 3], "VERSION 3");
    }

    /// Waits for the server to exit by itself: (exit code, stderr). A signal (a panic's
    /// abort, a crash) has no exit code and fails the caller's assertion.
    fn exit(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let status = wait_bounded(&mut self.child, WAIT).expect("server did not exit");
        (status.code(), self.stderr.take().unwrap().join().unwrap())
    }

    fn vm_hwm_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn string(s: &[u8]) -> Vec<u8> {
    [&(s.len() as u32).to_be_bytes()[..], s].concat()
}

fn req(kind: u8, id: u32, fields: &[&[u8]]) -> Vec<u8> {
    [&[kind][..], &id.to_be_bytes(), &fields.concat()].concat()
}

/// (type, id, status code) of a STATUS reply.
fn status_of(reply: &[u8]) -> (u8, u32, u32) {
    assert_eq!(reply[0], 101, "not a STATUS: {reply:?}");
    let id = u32::from_be_bytes(reply[1..5].try_into().unwrap());
    (
        reply[0],
        id,
        u32::from_be_bytes(reply[5..9].try_into().unwrap()),
    )
}

fn handle_of(reply: &[u8]) -> Vec<u8> {
    assert_eq!(reply[0], 102, "not a HANDLE: {reply:?}");
    reply[9..].to_vec()
}

#[test]
fn request_before_init_ends_the_session() {
    let dir = TempDir::new("raw");
    let mut s = Raw::start(&dir.0);
    s.send(&req(17, 1, &[&string(b".")])); // STAT
    let (code, err) = s.exit();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("before INIT"), "{err}");
}

#[test]
fn oversized_length_is_a_clean_exit_without_allocating() {
    let dir = TempDir::new("raw");
    let mut s = Raw::start(&dir.0);
    s.init();
    let base = s.vm_hwm_kib();
    // Declared just at the cap with most of the body missing: the server waits for it,
    // holding at most that one 256 KiB body.
    s.send_raw(&(256 * 1024u32).to_be_bytes());
    s.send_raw(&[17, 0, 0, 0, 1]);
    std::thread::sleep(Duration::from_millis(300));
    let hwm = s.vm_hwm_kib();
    eprintln!("server VmHWM: {base} KiB after INIT, {hwm} KiB waiting for 256 KiB");
    assert!(
        hwm - base < 1024,
        "VmHWM {base} -> {hwm} KiB waiting for 256 KiB"
    );
    drop(s);

    let mut s = Raw::start(&dir.0);
    s.init();
    s.send_raw(&0xFFFF_FFFFu32.to_be_bytes());
    // The server exits on the length alone, so these may meet a closed pipe.
    s.send_raw_racing_exit(&[5; 64]);
    let (code, err) = s.exit();
    assert_eq!(code, Some(11), "OpenSSH's code for a bad length: {err}");
    assert!(err.contains("packet length 4294967295"), "{err}");
}

#[test]
fn truncated_and_empty_packets() {
    let dir = TempDir::new("raw");
    // The stream ends inside a packet.
    let mut s = Raw::start(&dir.0);
    s.init();
    s.send_raw(&[0, 0, 0, 100, 17, 0, 0]);
    let (code, err) = s.exit();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("ended inside a packet"), "{err}");
    // A zero length, and a packet too short for its id.
    for bad in [&[0u8, 0, 0, 0][..], &[0, 0, 0, 3, 17, 0, 0]] {
        let mut s = Raw::start(&dir.0);
        s.init();
        s.send_raw(bad);
        let (code, err) = s.exit();
        assert!(matches!(code, Some(1 | 11)), "{bad:?}: {code:?} {err}");
    }
    // A request that ends early gets BAD_MESSAGE and the session goes on.
    let mut s = Raw::start(&dir.0);
    s.init();
    s.send(&req(17, 9, &[&[0, 0, 0, 50], b"abc"]));
    assert_eq!(status_of(&s.recv()), (101, 9, 5));
    s.send(&req(17, 10, &[&string(b"a\0b")]));
    assert_eq!(status_of(&s.recv()), (101, 10, 5));
    s.send(&req(16, 11, &[&string(b"")])); // REALPATH "" still answers
    assert_eq!(s.recv()[0], 104);
    assert_eq!(s.exit().0, Some(0));
}

/// REALPATH of the longest path a packet holds (255 KiB of '/', then as many "/./" and
/// "/../tmp") answers the right name; the server's time is printed (the quadratic resolver
/// took 1.1 s of CPU per request for the first).
#[test]
fn realpath_of_a_huge_path_is_answered_correctly() {
    let dir = TempDir::new("raw");
    let mut s = Raw::start(&dir.0);
    s.init();
    let huge = [
        (vec![b'/'; 255 * 1024], "/"),
        (b"/./".repeat(255 * 1024 / 3), "/"),
        (
            [&b"/tmp"[..], &b"/../tmp".repeat(255 * 1024 / 7)].concat(),
            "/tmp",
        ),
    ];
    for (id, (path, want)) in huge.iter().enumerate() {
        let started = std::time::Instant::now();
        s.send(&req(16, id as u32, &[&string(path)]));
        let reply = s.recv();
        println!("REALPATH of {} bytes: {:?}", path.len(), started.elapsed());
        // NAME: type, id, count 1, then the name as a string.
        assert_eq!(
            reply[..9],
            [104, 0, 0, 0, id as u8, 0, 0, 0, 1],
            "{reply:?}"
        );
        assert_eq!(reply[9..13], (want.len() as u32).to_be_bytes(), "{reply:?}");
        assert_eq!(reply[13..13 + want.len()], *want.as_bytes(), "{reply:?}");
    }
    assert_eq!(s.exit().0, Some(0));
}

#[test]
fn unknown_requests_and_bad_handles() {
    let dir = TempDir::new("raw");
    std::fs::write(dir.0.join("f"), b"x").unwrap();
    let mut s = Raw::start(&dir.0);
    s.init();
    s.send(&req(99, 1, &[]));
    assert_eq!(
        status_of(&s.recv()),
        (101, 1, 8),
        "unknown type: OP_UNSUPPORTED"
    );
    s.send(&req(200, 2, &[&string(b"nonsense@example.com"), b"xyz"]));
    assert_eq!(
        status_of(&s.recv()),
        (101, 2, 8),
        "unknown extension: OP_UNSUPPORTED"
    );
    let offset_len = [&0u64.to_be_bytes()[..], &100u32.to_be_bytes()].concat();
    for handle in [&b"zzzz"[..], b"", b"\0\0\0\0\0", &[0, 0, 0, 7]] {
        s.send(&req(5, 3, &[&string(handle), &offset_len])); // READ
        assert_eq!(
            status_of(&s.recv()),
            (101, 3, 4),
            "READ {handle:?}: FAILURE"
        );
        s.send(&req(
            6,
            4,
            &[&string(handle), &0u64.to_be_bytes(), &string(b"d")],
        )); // WRITE
        assert_eq!(status_of(&s.recv()), (101, 4, 4), "WRITE: FAILURE");
        s.send(&req(12, 5, &[&string(handle)])); // READDIR
        assert_eq!(status_of(&s.recv()), (101, 5, 4), "READDIR: FAILURE");
        s.send(&req(4, 6, &[&string(handle)])); // CLOSE
        assert_eq!(status_of(&s.recv()), (101, 6, 2), "CLOSE: NO_SUCH_FILE");
    }
    // A directory handle is a bad file handle, and a closed handle is gone.
    s.send(&req(11, 7, &[&string(b".")]));
    let dirh = handle_of(&s.recv());
    s.send(&req(5, 8, &[&string(&dirh), &offset_len]));
    assert_eq!(status_of(&s.recv()), (101, 8, 4));
    s.send(&req(4, 9, &[&string(&dirh)]));
    assert_eq!(status_of(&s.recv()), (101, 9, 0));
    s.send(&req(12, 10, &[&string(&dirh)]));
    assert_eq!(status_of(&s.recv()), (101, 10, 4));
    // Errno mapping: missing file, and EEXIST (FAILURE) for an exclusive create.
    s.send(&req(
        3,
        11,
        &[
            &string(b"missing"),
            &1u32.to_be_bytes(),
            &0u32.to_be_bytes(),
        ],
    ));
    assert_eq!(status_of(&s.recv()), (101, 11, 2));
    let excl = (0x02u32 | 0x08 | 0x20).to_be_bytes();
    s.send(&req(3, 12, &[&string(b"f"), &excl, &0u32.to_be_bytes()]));
    assert_eq!(status_of(&s.recv()), (101, 12, 4));
    assert_eq!(s.exit().0, Some(0));
}

#[test]
fn handle_table_is_bounded() {
    let dir = TempDir::new("raw");
    let mut s = Raw::start(&dir.0);
    s.init();
    let mut handles = Vec::new();
    for i in 0..100 {
        s.send(&req(11, i, &[&string(b".")]));
        handles.push(handle_of(&s.recv()));
    }
    s.send(&req(11, 100, &[&string(b".")]));
    assert_eq!(
        status_of(&s.recv()),
        (101, 100, 4),
        "the 101st handle: FAILURE"
    );
    s.send(&req(4, 101, &[&string(&handles[42])]));
    assert_eq!(status_of(&s.recv()), (101, 101, 0));
    s.send(&req(11, 102, &[&string(b".")]));
    assert_eq!(
        handle_of(&s.recv()),
        handles[42],
        "the freed slot is reused"
    );
    assert_eq!(s.exit().0, Some(0));
}

/// A 20 MB download in pipelined READs, one asking for 4 GiB: each reply is capped at 64 KiB
/// and the server's peak memory grows by less than 1 MiB.
#[test]
fn streamed_reads_keep_memory_bounded() {
    let dir = TempDir::new("raw");
    let data = pattern(BIG, 3);
    std::fs::write(dir.0.join("big"), &data).unwrap();
    let mut s = Raw::start(&dir.0);
    s.init();
    s.send(&req(
        3,
        1,
        &[&string(b"big"), &1u32.to_be_bytes(), &0u32.to_be_bytes()],
    ));
    let h = handle_of(&s.recv());
    let base = s.vm_hwm_kib();
    s.send(&req(
        5,
        2,
        &[&string(&h), &0u64.to_be_bytes(), &u32::MAX.to_be_bytes()],
    ));
    let first = s.recv();
    assert_eq!(
        (
            first[0],
            u32::from_be_bytes(first[5..9].try_into().unwrap())
        ),
        (103, 65536)
    );
    let chunk = 65536u64;
    let mut got = Vec::with_capacity(BIG);
    let (mut next, mut outstanding) = (0u64, 0);
    loop {
        while outstanding < 16 && next * chunk < BIG as u64 + chunk {
            let off = (next * chunk).to_be_bytes();
            s.send(&req(
                5,
                1000 + next as u32,
                &[&string(&h), &off, &(chunk as u32).to_be_bytes()],
            ));
            next += 1;
            outstanding += 1;
        }
        if outstanding == 0 {
            break;
        }
        let r = s.recv();
        outstanding -= 1;
        match r[0] {
            103 => got.extend_from_slice(&r[9..]),
            101 => assert_eq!(status_of(&r).2, 1, "EOF"),
            t => panic!("reply type {t}"),
        }
    }
    assert_eq!(fnv(&got), fnv(&data));
    let hwm = s.vm_hwm_kib();
    eprintln!("server VmHWM: {base} KiB before, {hwm} KiB after a 20 MB download");
    assert!(
        hwm - base < 1024,
        "VmHWM {base} -> {hwm} KiB after a 20 MB download"
    );
    assert_eq!(s.exit().0, Some(0));
}

#[test]
fn flags_and_entry_points() {
    let bin = TempDir::new("bin");
    let link = ours_as_sftp_server(&bin.0);
    let mut cmd = Command::new(&link);
    cmd.args(["-Q", "requests"]);
    let r = run(cmd);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.lines().any(|l| l == "posix-rename") && r.stdout.lines().any(|l| l == "open"));
    let mut cmd = Command::new(qnetd());
    cmd.args(["sftp-server", "-x"]);
    let r = run(cmd);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("unknown option -- x") && r.stderr.contains("usage:"),
        "{}",
        r.stderr
    );
    let mut cmd = Command::new(&link);
    cmd.args(["-u", "8"]);
    let r = run(cmd);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("Invalid umask"), "{}", r.stderr);
    // With stdin at EOF at once, a well-formed command line serves nothing and exits 0.
    let mut cmd = Command::new(&link);
    cmd.args(["-e", "-l", "DEBUG3", "-f", "LOCAL0", "-u", "077", "-d", "/"]);
    assert_eq!(run(cmd).code, Some(0));
}

/// -u really sets the umask, and -d the start directory (relative paths land there).
#[test]
fn umask_and_start_dir() {
    if !have("/usr/bin/sftp") {
        eprintln!("skipped: needs openssh-client");
        return;
    }
    let dir = TempDir::new("umask");
    std::fs::create_dir(dir.0.join("start")).unwrap();
    std::fs::write(dir.0.join("f"), b"f").unwrap();
    std::fs::write(dir.0.join("batch"), "put f\nmkdir d\n").unwrap();
    let mut cmd = Command::new("sftp");
    let server = format!(
        "{} sftp-server -u 077 -d {}/start",
        qnetd(),
        dir.0.display()
    );
    cmd.args(["-b", "batch", "-D", &server]).current_dir(&dir.0);
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let mode = |p: &str| std::fs::metadata(dir.0.join(p)).unwrap().mode() & 0o777;
    assert_eq!((mode("start/f"), mode("start/d")), (0o600, 0o700));
}

/// Every NAME entry of a directory listing: (name, long name, attrs), sorted by name.
fn list_dir(s: &mut Raw, path: &[u8]) -> Vec<(Vec<u8>, String, Vec<u8>)> {
    s.send(&req(11, 1, &[&string(path)]));
    let h = handle_of(&s.recv());
    let mut entries = Vec::new();
    loop {
        s.send(&req(12, 2, &[&string(&h)]));
        let r = s.recv();
        if r[0] == 101 {
            assert_eq!(status_of(&r).2, 1, "READDIR ends with EOF");
            break;
        }
        assert_eq!(r[0], 104, "NAME");
        let count = u32::from_be_bytes(r[5..9].try_into().unwrap());
        let mut at = 9;
        let mut take = |n: usize| {
            at += n;
            &r[at - n..at]
        };
        for _ in 0..count {
            let n = u32::from_be_bytes(take(4).try_into().unwrap()) as usize;
            let name = take(n).to_vec();
            let n = u32::from_be_bytes(take(4).try_into().unwrap()) as usize;
            let long = String::from_utf8(take(n).to_vec()).unwrap();
            // attrs: flags 0xF = size, uid/gid, permissions, times: 32 bytes
            assert_eq!(take(4), &[0, 0, 0, 0xf]);
            entries.push((name, long, take(28).to_vec()));
        }
    }
    s.send(&req(4, 3, &[&string(&h)]));
    assert_eq!(status_of(&s.recv()).2, 0);
    entries.sort();
    entries
}

/// statvfs@openssh.com without the fields that change by themselves (free blocks, inodes).
fn statvfs_stable(s: &mut Raw, path: &[u8]) -> Vec<u64> {
    s.send(&req(
        200,
        4,
        &[&string(b"statvfs@openssh.com"), &string(path)],
    ));
    let r = s.recv();
    assert_eq!((r[0], r.len()), (201, 5 + 11 * 8));
    let f: Vec<u64> = r[5..]
        .chunks(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
        .collect();
    [&f[..3], &f[5..6], &f[8..]].concat()
}

/// What old clients print for `ls -l` (READDIR's long names), the attributes of every entry,
/// and statvfs: byte for byte OpenSSH's, in a directory holding each kind of file.
#[test]
fn readdir_long_names_and_statvfs_match_openssh() {
    if !have(OPENSSH_SERVER) {
        eprintln!("skipped: needs openssh-sftp-server");
        return;
    }
    let dir = TempDir::new("names");
    let d = &dir.0;
    std::fs::write(d.join("file"), b"12345").unwrap();
    std::fs::set_permissions(d.join("file"), std::fs::Permissions::from_mode(0o4754)).unwrap();
    std::fs::create_dir(d.join("sticky")).unwrap();
    std::fs::set_permissions(d.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink("file", d.join("link")).unwrap();
    std::fs::hard_link(d.join("file"), d.join("hard")).unwrap();
    let old = std::fs::File::create(d.join("old")).unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    old.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t))
        .unwrap();
    std::os::unix::fs::chown(d.join("old"), Some(4321), Some(4321)).unwrap_or(());
    let status = Command::new("mkfifo").arg(d.join("fifo")).status().unwrap();
    assert!(status.success());

    let mut ours = Raw::start(d);
    let mut theirs = Raw::start_program(d, OPENSSH_SERVER, &[]);
    ours.init();
    theirs.init();
    let (a, b) = (list_dir(&mut ours, b"."), list_dir(&mut theirs, b"."));
    assert_eq!(a.len(), 8, "{a:?}"); // ., .., and the six made above
    assert_eq!(a, b);
    // The root directory: entries are stat'ed as "/name" (its atimes move, so no comparison).
    let root = list_dir(&mut ours, b"/");
    assert!(
        root.iter()
            .any(|(n, l, _)| n == b"tmp" && l.starts_with('d')),
        "{root:?}"
    );
    assert_eq!(
        statvfs_stable(&mut ours, b"."),
        statvfs_stable(&mut theirs, b".")
    );
    for s in [ours, theirs] {
        assert_eq!(s.exit().0, Some(0));
    }
}
