//! Fault tests of the certificate store: `qnetd cert init` and `qnetd cert sign` SIGKILLed at
//! random points (200 runs, seeded PRNG: the seed is printed, `QNETD_FAULT_SEED=N` replays it),
//! and a full file system (a small tmpfs in a private mount namespace, root only).
//!
//! What must hold after every kill or failure (see `check_store`):
//! - the store is absent, complete and loadable (key matches certificate, chain to the CA), or
//!   "incomplete" without the CA export (an interrupted init: nothing exported, nothing signed;
//!   `init` finishes it);
//! - the only other files are temp files `.NAME.tmp.PID` of the killed process, never read, and
//!   removed by the next command that takes the store lock; an ENOSPC failure leaves none;
//! - every `cluster-NAME.crt` parses, is signed by the CA and is in the registry; every serial
//!   belongs to one certificate only, over the store's whole history; serial.txt is at least the
//!   highest serial ever given to a certificate the CA signed (the CA's own serial is random);
//! - the same command run again succeeds and leaves a complete store with no temp file.
//!
//! Certificate requests are made by the real NSS `certutil -R`, as corosync-qdevice-net-certutil
//! does on a node.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use certtool::registry::{self, Kind};
use certtool::{CertStore, StoreError};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

const QNETD: &str = env!("CARGO_BIN_EXE_qnetd");
const LOOP_CLUSTERS: [&str; 6] = ["l0", "l1", "l2", "l3", "l4", "l5"];
/// A CN of the maximum X.509 length (64): long registry lines reach a page boundary sooner.
const LONG_CLUSTER: &str = "full-disk-cluster-name-padded-to-the-longest-common-name-allowed";
const PAGE: u64 = 4096;

// ---------------------------------------------------------------- common helpers

/// splitmix64: small, seedable, good enough to spread kill delays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros().max(1) as u64;
        lo + Duration::from_micros(self.next() % span)
    }
}

fn seed() -> u64 {
    match std::env::var("QNETD_FAULT_SEED") {
        Ok(s) => s
            .parse()
            .expect("QNETD_FAULT_SEED must be a decimal number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

fn temp_root(tag: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("qnetd-faults-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    root
}

fn qnetd_cert(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(QNETD);
    c.arg("cert").arg("--dir").arg(dir).args(args);
    c.stdin(Stdio::null());
    c
}

fn sign_cmd(dir: &Path, csrs: &Path, cluster: &str) -> Command {
    let csr = csrs.join(format!("{cluster}.crq"));
    qnetd_cert(
        dir,
        &["sign", "--csr", csr.to_str().unwrap(), "--cluster", cluster],
    )
}

/// One shell signing every loop cluster in turn: most of its life is spent inside a `qnetd`
/// process, so a kill of the process group lands in the writes more often.
fn sign_loop_cmd(dir: &Path, csrs: &Path) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(r#"set -e; q="$1"; d="$2"; r="$3"; shift 3
             for c in "$@"; do "$q" cert --dir "$d" sign --csr "$r/$c.crq" --cluster "$c" >/dev/null; done"#)
        .arg("sh")
        .arg(QNETD)
        .arg(dir)
        .arg(csrs)
        .args(LOOP_CLUSTERS);
    c.stdin(Stdio::null());
    c
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Requests made by the real NSS tools: `certutil -R -s CN=NAME`, as the node script does.
fn make_requests(dir: &Path, names: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    let db = format!("sql:{}", dir.join("nssdb").display());
    fs::create_dir_all(dir.join("nssdb")).unwrap();
    let ok = |c: &mut Command| {
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("certutil: {e} (install libnss3-tools)"));
        assert!(out.status.success(), "{}", text(&out));
    };
    ok(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
    let mut noise = fs::File::create(dir.join("noise")).unwrap();
    noise.write_all(&ring_random(64)).unwrap();
    fs::write(dir.join("pw"), "").unwrap();
    for name in names {
        ok(Command::new("certutil")
            .args(["-R", "-d", &db, "-s", &format!("CN={name}")])
            .arg("-o")
            .arg(dir.join(format!("{name}.crq")))
            .arg("-z")
            .arg(dir.join("noise"))
            .arg("-f")
            .arg(dir.join("pw")));
    }
}

fn ring_random(n: usize) -> Vec<u8> {
    use ring::rand::SecureRandom;
    let mut v = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut v).unwrap();
    v
}

// ---------------------------------------------------------------- the store's invariants

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No core file (the directory may hold serial.txt, the registry, the lock).
    Absent,
    /// Core files but not the CA export: what an interrupted init leaves.
    Interrupted,
    Complete,
}

/// Every certificate seen in a store's life: serial -> SHA-256. A serial seen again with
/// another certificate is a reused serial.
#[derive(Default)]
struct History {
    serials: BTreeMap<u64, String>,
}

impl History {
    fn see(&mut self, serial: u64, sha: &str, ctx: &str) {
        let prev = self
            .serials
            .entry(serial)
            .or_insert_with(|| sha.to_string());
        assert_eq!(
            prev, sha,
            "{ctx}: serial {serial} given to two certificates"
        );
    }

    fn highest(&self) -> u64 {
        self.serials.keys().next_back().copied().unwrap_or(0)
    }
}

struct Snapshot {
    state: State,
    temps: Vec<String>,
    serial: Option<u64>,
    registry: Vec<registry::Entry>,
    /// cluster name -> SHA-256 of its cluster-NAME.crt
    clusters: BTreeMap<String, String>,
}

fn sha(der: &[u8]) -> String {
    certtool::sha256_hex(der)
}

fn parse_cert<'a>(der: &'a [u8], ctx: &str) -> X509Certificate<'a> {
    let (rest, cert) =
        X509Certificate::from_der(der).unwrap_or_else(|e| panic!("{ctx}: does not parse: {e}"));
    assert!(rest.is_empty(), "{ctx}: garbage after the certificate");
    cert
}

fn cert_serial(cert: &X509Certificate<'_>) -> u64 {
    cert.tbs_certificate
        .serial
        .to_u64_digits()
        .first()
        .copied()
        .unwrap_or(0)
}

fn pem_block(path: &Path, tag: &str) -> Vec<u8> {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pem::parse_many(&data)
        .unwrap_or_else(|e| panic!("{}: bad PEM (half-written?): {e}", path.display()))
        .into_iter()
        .find(|b| b.tag() == tag)
        .unwrap_or_else(|| panic!("{}: no {tag} block (half-written?)", path.display()))
        .into_contents()
}

/// The P-256 public key of a PKCS#8 private key.
fn public_of(pkcs8: &[u8], ctx: &str) -> Vec<u8> {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
        .unwrap_or_else(|e| panic!("{ctx}: key does not load: {e}"))
        .public_key()
        .as_ref()
        .to_vec()
}

fn assert_key_matches(key_file: &Path, cert_der: &[u8], ctx: &str) {
    let key = public_of(&pem_block(key_file, "PRIVATE KEY"), ctx);
    let cert = parse_cert(cert_der, ctx);
    assert_eq!(
        key,
        cert.public_key().subject_public_key.data.as_ref(),
        "{ctx}: {} does not match its certificate",
        key_file.display()
    );
}

fn is_temp(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.rsplit_once(".tmp."))
        .is_some_and(|(stem, pid)| !stem.is_empty() && pid.parse::<u32>().is_ok())
}

/// Checks every invariant of the module comment on `dir` and returns what it holds.
fn check_store(dir: &Path, hist: &mut History, ctx: &str) -> Snapshot {
    let mut temps = Vec::new();
    let mut cluster_files = Vec::new();
    let mut core = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for ent in rd {
            let name = ent.unwrap().file_name().to_string_lossy().into_owned();
            let known = [
                certtool::SERIAL_FILE,
                certtool::REGISTRY_FILE,
                "pkcs11.txt",
                ".lock",
            ];
            if is_temp(&name) {
                temps.push(name);
            } else if [
                certtool::CA_CERT_FILE,
                certtool::CA_KEY_FILE,
                certtool::SERVER_CERT_FILE,
                certtool::SERVER_KEY_FILE,
            ]
            .contains(&name.as_str())
            {
                core.push(name);
            } else if let Some(c) = name
                .strip_prefix("cluster-")
                .and_then(|n| n.strip_suffix(".crt"))
            {
                cluster_files.push(c.to_string());
            } else {
                assert!(
                    known.contains(&name.as_str()) || name.starts_with("backup-"),
                    "{ctx}: unexpected file {name} in the store"
                );
            }
        }
    }

    let serial = fs::read_to_string(dir.join(certtool::SERIAL_FILE))
        .ok()
        .map(|t| {
            t.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{ctx}: serial.txt is {t:?} (half-written?)"))
        });
    let registry = registry::load(&dir.join(certtool::REGISTRY_FILE))
        .unwrap_or_else(|e| panic!("{ctx}: registry does not load: {e}"));
    let mut in_registry = BTreeMap::new();
    for e in &registry {
        assert!(
            in_registry.insert(e.serial, e.sha256.clone()).is_none(),
            "{ctx}: serial {} twice in the registry",
            e.serial
        );
        // The counter numbers what the CA signs; the CA's own serial is random, beyond it.
        if e.kind == Kind::Ca {
            assert!(
                e.serial >= 1 << 63,
                "{ctx}: CA serial {} is not random",
                e.serial
            );
        } else {
            hist.see(e.serial, &e.sha256, ctx);
        }
    }
    // Every file that exists is whole: keys and certificates parse even in a partial store.
    for f in [certtool::CA_KEY_FILE, certtool::SERVER_KEY_FILE] {
        if core.iter().any(|c| c == f) {
            public_of(&pem_block(&dir.join(f), "PRIVATE KEY"), ctx);
        }
    }

    let state = match core.len() {
        0 => State::Absent,
        4 => State::Complete,
        _ => State::Interrupted,
    };
    let opened = CertStore::open(dir);
    match state {
        State::Absent => {
            assert!(
                matches!(opened, Err(StoreError::NotInitialised { .. })),
                "{ctx}: an empty store opens as {:?}",
                opened.err()
            );
            assert!(
                cluster_files.is_empty(),
                "{ctx}: cluster files without a CA"
            );
        }
        State::Interrupted => {
            assert!(
                !core.iter().any(|c| c == certtool::CA_CERT_FILE),
                "{ctx}: partial store {core:?} has the CA export (written last by init)"
            );
            assert!(
                matches!(opened, Err(StoreError::Incomplete { .. })),
                "{ctx}: a partial store opens as {:?}",
                opened.err()
            );
            assert!(
                cluster_files.is_empty(),
                "{ctx}: cluster files without a CA"
            );
        }
        State::Complete => {
            let store = opened.unwrap_or_else(|e| panic!("{ctx}: complete store: {e}"));
            let creds = store
                .server_credentials()
                .unwrap_or_else(|e| panic!("{ctx}: server credentials: {e}"));
            assert_key_matches(&dir.join(certtool::CA_KEY_FILE), &creds.ca_cert_der, ctx);
            assert_key_matches(
                &dir.join(certtool::SERVER_KEY_FILE),
                &creds.server_cert_der,
                ctx,
            );
            assert!(dir.join("pkcs11.txt").exists(), "{ctx}: no pcs marker");
            let ca = parse_cert(&creds.ca_cert_der, ctx);
            for (what, der) in [
                ("CA", &creds.ca_cert_der),
                ("server", &creds.server_cert_der),
            ] {
                let c = parse_cert(der, ctx);
                c.verify_signature(Some(ca.public_key()))
                    .unwrap_or_else(|e| {
                        panic!("{ctx}: {what} certificate not signed by the CA: {e}")
                    });
                assert_eq!(
                    in_registry.get(&cert_serial(&c)),
                    Some(&sha(der)),
                    "{ctx}: {what} certificate not in the registry"
                );
            }
        }
    }

    let mut clusters = BTreeMap::new();
    if state == State::Complete {
        let ca_der = pem_block(&dir.join(certtool::CA_CERT_FILE), "CERTIFICATE");
        let ca = parse_cert(&ca_der, ctx);
        for name in cluster_files {
            let der = fs::read(dir.join(certtool::cluster_cert_file(&name))).unwrap();
            let c_ctx = format!("{ctx}: cluster-{name}.crt");
            let cert = parse_cert(&der, &c_ctx);
            cert.verify_signature(Some(ca.public_key()))
                .unwrap_or_else(|e| panic!("{c_ctx}: not signed by the CA: {e}"));
            let h = sha(&der);
            let s = cert_serial(&cert);
            let entry = registry.iter().find(|e| e.sha256 == h);
            assert!(
                entry.is_some_and(|e| e.kind == Kind::Cluster && e.name == name && e.serial == s),
                "{c_ctx}: serial {s} not in the registry as cluster {name}"
            );
            hist.see(s, &h, &c_ctx);
            clusters.insert(name, h);
        }
    }
    if let Some(s) = serial {
        assert!(
            s >= hist.highest(),
            "{ctx}: serial.txt {s} below serial {} already issued",
            hist.highest()
        );
    } else {
        assert!(
            hist.serials.is_empty() || state == State::Absent,
            "{ctx}: no serial.txt"
        );
        assert!(registry.is_empty(), "{ctx}: registry without serial.txt");
    }
    Snapshot {
        state,
        temps,
        serial,
        registry,
        clusters,
    }
}

// ---------------------------------------------------------------- kill runs

enum Ended {
    /// The command exited before the kill (with this status).
    Finished(ExitStatus),
    Killed,
}

/// Runs `cmd` in its own process group and SIGKILLs the group after `delay`.
fn run_killed(mut cmd: Command, delay: Duration) -> Ended {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child: Child = cmd.spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < delay {
        if let Some(st) = child.try_wait().unwrap() {
            return Ended::Finished(st);
        }
        sleep(Duration::from_micros(200).min(delay.saturating_sub(start.elapsed())));
    }
    let pgid = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
    let st = child.wait().unwrap();
    // The shell's `qnetd` is now our child (we are a subreaper, see `reap_orphans_here`): reap
    // it, so the next command sees its pid gone as on a real system, not a zombie's.
    while rustix::process::waitpgid(pgid, rustix::process::WaitOptions::empty()).is_ok() {}
    // An exit code means it ended on its own between the last poll and the kill.
    match st.code() {
        Some(_) => Ended::Finished(st),
        None => Ended::Killed,
    }
}

fn fastest_duration(mut make: impl FnMut(usize) -> Command) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|i| {
            let t = Instant::now();
            let out = run(make(i));
            assert!(out.status.success(), "{}", text(&out));
            t.elapsed()
        })
        .collect();
    // The fastest: the others were slowed by whatever else ran (the other test) and would
    // put the kills after the end.
    times.sort();
    times[0]
}

#[derive(Default, Debug)]
struct Tally {
    finished: u32,
    before: u32,
    during: u32,
    after: u32,
    stale_temps: u32,
}

impl Tally {
    fn total(&self) -> u32 {
        self.finished + self.before + self.during + self.after
    }
}

fn print_tally(name: &str, t: &Tally) {
    println!(
        "{name:<34} runs {:>3}: finished before the kill {:>3}, killed before the writes {:>3}, \
         during {:>3}, after {:>3}; temp files left by the kill {:>3}",
        t.total(),
        t.finished,
        t.before,
        t.during,
        t.after,
        t.stale_temps
    );
}

/// `init` on a fresh directory, killed after a random delay, then run again.
fn init_runs(base: &Path, rng: &mut Rng, runs: u32, spread: (f64, f64), dur: Duration) -> Tally {
    let mut t = Tally::default();
    for i in 0..runs {
        let dir = base.join(format!("init-{i}"));
        let delay = rng.between(dur.mul_f64(spread.0), dur.mul_f64(spread.1));
        let ctx = format!("init run {i} (kill after {delay:?})");
        let mut hist = History::default();
        let ended = run_killed(qnetd_cert(&dir, &["init"]), delay);
        let snap = check_store(&dir, &mut hist, &ctx);
        match ended {
            Ended::Finished(st) => {
                assert!(st.success(), "{ctx}: init failed on its own: {st:?}");
                assert_eq!(snap.state, State::Complete, "{ctx}");
                t.finished += 1;
            }
            Ended::Killed => match snap.state {
                State::Absent if snap.serial.is_none() => t.before += 1,
                State::Complete => t.after += 1,
                _ => t.during += 1,
            },
        }
        t.stale_temps += u32::from(!snap.temps.is_empty());
        if let Ok(meta) = fs::metadata(&dir) {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode & 0o007, 0, "{ctx}: store directory mode {mode:o}");
        }
        let out = run(qnetd_cert(&dir, &["init"]));
        assert!(out.status.success(), "{ctx}: rerun: {}", text(&out));
        let again = check_store(&dir, &mut hist, &format!("{ctx}, rerun"));
        assert_eq!(again.state, State::Complete, "{ctx}: rerun");
        assert!(
            again.temps.is_empty(),
            "{ctx}: rerun left {:?}",
            again.temps
        );
        let _ = fs::remove_dir_all(&dir);
    }
    t
}

/// Signs (one cluster, or the loop) on one long-lived store, killed after a random delay;
/// then the same command again.
/// A command signing `targets`, and how long it takes when not killed.
struct SignJob<'a> {
    make: &'a dyn Fn() -> Command,
    targets: &'a [&'a str],
    dur: Duration,
}

fn sign_runs(
    store: &Path,
    hist: &mut History,
    rng: &mut Rng,
    runs: u32,
    spread: (f64, f64),
    job: &SignJob,
) -> Tally {
    let SignJob { make, targets, dur } = *job;
    let mut t = Tally::default();
    for i in 0..runs {
        let before = check_store(store, hist, "before a sign run");
        let delay = rng.between(dur.mul_f64(spread.0), dur.mul_f64(spread.1));
        let ctx = format!("sign run {i} on {targets:?} (kill after {delay:?})");
        let ended = run_killed(make(), delay);
        let snap = check_store(store, hist, &ctx);
        assert_eq!(snap.state, State::Complete, "{ctx}");
        // A serial taken but not recorded, or a recorded certificate whose file is not (yet)
        // the cluster's: the kill came between two writes of one `sign`.
        let last_recorded = snap
            .registry
            .iter()
            .filter(|e| e.kind != Kind::Ca)
            .map(|e| e.serial)
            .max()
            .unwrap_or(0);
        let unwritten = targets.iter().any(|c| {
            let latest = snap
                .registry
                .iter()
                .rfind(|e| e.kind == Kind::Cluster && e.name == *c);
            latest.is_some_and(|e| snap.clusters.get(*c) != Some(&e.sha256))
        });
        match ended {
            Ended::Finished(st) => {
                assert!(st.success(), "{ctx}: sign failed on its own: {st:?}");
                t.finished += 1;
            }
            Ended::Killed if snap.serial == before.serial => t.before += 1,
            Ended::Killed if snap.serial > Some(last_recorded) || unwritten => t.during += 1,
            Ended::Killed => t.after += 1,
        }
        t.stale_temps += u32::from(!snap.temps.is_empty());
        let out = run(make());
        assert!(out.status.success(), "{ctx}: rerun: {}", text(&out));
        let again = check_store(store, hist, &format!("{ctx}, rerun"));
        assert!(
            again.temps.is_empty(),
            "{ctx}: rerun left {:?}",
            again.temps
        );
        for c in targets {
            let latest = again
                .registry
                .iter()
                .rfind(|e| e.kind == Kind::Cluster && e.name == *c)
                .unwrap_or_else(|| panic!("{ctx}: rerun: {c} not in the registry"));
            assert_eq!(
                again.clusters.get(*c),
                Some(&latest.sha256),
                "{ctx}: rerun: cluster-{c}.crt is not its latest certificate"
            );
            assert!(
                latest.serial > before.serial.unwrap_or(0),
                "{ctx}: rerun reused serial {}",
                latest.serial
            );
        }
    }
    t
}

/// Orphans of a killed shell are re-parented to this process instead of init, so `run_killed`
/// can reap them before the store is checked.
fn reap_orphans_here() {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
}

#[test]
fn killed_init_and_sign_leave_a_consistent_store() {
    reap_orphans_here();
    let seed = seed();
    println!("seed {seed} (replay with QNETD_FAULT_SEED={seed})");
    let mut rng = Rng(seed);
    let base = temp_root("kill");
    let csrs = base.join("requests");
    let mut names = vec!["kill"];
    names.extend(LOOP_CLUSTERS);
    make_requests(&csrs, &names);

    let init_dur = fastest_duration(|i| qnetd_cert(&base.join(format!("measure-{i}")), &["init"]));
    let store = base.join("store");
    let out = run(qnetd_cert(&store, &["init"]));
    assert!(out.status.success(), "{}", text(&out));
    let sign_dur = fastest_duration(|_| sign_cmd(&store, &csrs, "kill"));
    let loop_dur = fastest_duration(|_| sign_loop_cmd(&store, &csrs));
    println!(
        "measured (fastest of 3): init {init_dur:?}, sign {sign_dur:?}, loop of {} signs {loop_dur:?}",
        LOOP_CLUSTERS.len()
    );

    let whole = (0.0, 1.2);
    let late = (0.3, 1.0);
    let t_init = init_runs(&base, &mut rng, 50, whole, init_dur);
    let t_init_late = init_runs(&base, &mut rng, 30, late, init_dur);

    let mut hist = History::default();
    let one = SignJob {
        make: &|| sign_cmd(&store, &csrs, "kill"),
        targets: &["kill"],
        dur: sign_dur,
    };
    let many = SignJob {
        make: &|| sign_loop_cmd(&store, &csrs),
        targets: &LOOP_CLUSTERS,
        dur: loop_dur,
    };
    let t_sign = sign_runs(&store, &mut hist, &mut rng, 50, whole, &one);
    let t_sign_late = sign_runs(&store, &mut hist, &mut rng, 40, late, &one);
    let t_loop = sign_runs(&store, &mut hist, &mut rng, 30, whole, &many);

    let all = [
        ("init, delay over 0..1.2 x duration", &t_init),
        ("init, delay over 0.3..1.0 x", &t_init_late),
        ("sign, delay over 0..1.2 x", &t_sign),
        ("sign, delay over 0.3..1.0 x", &t_sign_late),
        ("6 signs in a loop, over 0..1.2 x", &t_loop),
    ];
    for (name, t) in all {
        print_tally(name, t);
    }
    let total: u32 = all.iter().map(|(_, t)| t.total()).sum();
    let during: u32 = all.iter().map(|(_, t)| t.during).sum();
    println!(
        "{total} runs, {during} killed in the middle of the writes; store history: {} serials, \
         highest {}",
        hist.serials.len(),
        hist.highest()
    );
    assert_eq!(total, 200);
    // The point of the exercise: some kills must land between two writes.
    assert!(
        t_init.during + t_init_late.during > 0,
        "no init run was killed during its writes (seed {seed})"
    );
    assert!(
        t_sign.during + t_sign_late.during + t_loop.during > 0,
        "no sign run was killed during its writes (seed {seed})"
    );
    let _ = fs::remove_dir_all(&base);
}

// ---------------------------------------------------------------- full disk

/// A small tmpfs in a private mount namespace, held by a sleeping process; reached from here
/// through /proc/PID/root, so nothing is mounted in the test's own namespace.
struct SmallFs {
    holder: Child,
    root: PathBuf,
}

impl SmallFs {
    fn new(mountpoint: &Path, size_kib: u32) -> SmallFs {
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o size={size_kib}k,mode=0755 tmpfs \"$0\" && echo mounted && exec sleep 600"
            ))
            .arg(mountpoint)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("unshare: {e} (util-linux)"));
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "mounted",
            "could not mount a tmpfs in a new mount namespace"
        );
        let root = PathBuf::from(format!("/proc/{}/root", holder.id()))
            .join(mountpoint.strip_prefix("/").unwrap());
        SmallFs { holder, root }
    }

    fn free_pages(&self) -> u64 {
        let st = rustix::fs::statvfs(&self.root).unwrap();
        st.f_bavail * st.f_frsize / PAGE
    }

    /// Fills the file system with a filler file, then frees exactly `pages` pages.
    fn leave_free(&self, pages: u64) {
        let path = self.root.join("filler");
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let block = vec![0u8; PAGE as usize];
        while f.write(&block).is_ok_and(|n| n == block.len()) {}
        let len = f.metadata().unwrap().len() / PAGE * PAGE;
        f.set_len(len.saturating_sub(pages * PAGE)).unwrap();
        assert_eq!(
            self.free_pages(),
            pages,
            "could not leave {pages} pages free"
        );
    }

    fn free_all(&self) {
        let _ = fs::remove_file(self.root.join("filler"));
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn require_root(test: &str) {
    assert!(
        rustix::process::geteuid().is_root(),
        "{test} needs root (a tmpfs mounted in a private mount namespace): run the suite with \
         .ci/run, which runs as root"
    );
}

/// The message of a failed command: ENOSPC in words, and the store file it was writing.
fn enospc_file(out: &Output, dir: &Path, ctx: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{ctx}: {}", text(out));
    assert!(
        err.contains("No space left on device"),
        "{ctx}: no ENOSPC in the message: {}",
        text(out)
    );
    let prefix = format!("cannot write {}/", dir.display());
    let at = err
        .find(&prefix)
        .unwrap_or_else(|| panic!("{ctx}: the message names no store file: {err}"));
    let rest = &err[at + prefix.len()..];
    rest[..rest.find(':').unwrap()].to_string()
}

#[test]
fn full_disk_init_and_sign_fail_cleanly_and_succeed_once_space_is_freed() {
    require_root("the full-disk test");
    let base = temp_root("disk");
    let csrs = base.join("requests");
    make_requests(&csrs, &[LONG_CLUSTER]);
    let mnt = base.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let small = SmallFs::new(&mnt, 256);
    let dir = small.root.join("nssdb");

    // init with 0, 1, 2... free pages: every write of init fails in turn, then it fits. Odd
    // rounds use upstream's `corosync-qnetd-certutil -i` (pvecm's command), even ones ours.
    let certutil = base.join("corosync-qnetd-certutil");
    std::os::unix::fs::symlink(QNETD, &certutil).unwrap();
    let label = |k: u64| match k % 2 {
        1 => "corosync-qnetd-certutil -i",
        _ => "qnetd cert init",
    };
    let init = |k: u64| {
        if k % 2 == 1 {
            let mut c = Command::new(&certutil);
            c.arg("-i").env("QNETD_CERT_DIR", &dir).stdin(Stdio::null());
            c
        } else {
            qnetd_cert(&dir, &["init"])
        }
    };
    let mut table = Vec::new();
    let mut first_write_failed = false;
    let mut part_way = false;
    let mut succeeded = false;
    for k in 0..=12 {
        let _ = fs::remove_dir_all(&dir);
        small.leave_free(k);
        let ctx = format!("{} with {k} free pages", label(k));
        let out = run(init(k));
        let mut hist = History::default();
        let snap = check_store(&dir, &mut hist, &ctx);
        if out.status.success() {
            assert_eq!(snap.state, State::Complete, "{ctx}");
            table.push(format!("{k:>2} free pages: {} succeeds", label(k)));
            succeeded = true;
            continue;
        }
        let file = enospc_file(&out, &dir, &ctx);
        assert!(snap.temps.is_empty(), "{ctx}: left {:?}", snap.temps);
        assert_ne!(snap.state, State::Complete, "{ctx}: failed but complete");
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".lock")
            .collect();
        table.push(format!(
            "{k:>2} free pages: {} fails writing {file}; serial.txt {:?}, left {left:?}",
            label(k),
            snap.serial
        ));
        first_write_failed |= snap.serial.is_none() && left.is_empty();
        part_way |= snap.serial.is_some();
        small.free_all();
        let rerun = run(init(k));
        assert!(
            rerun.status.success(),
            "{ctx}: init after freeing space: {}",
            text(&rerun)
        );
        let after = check_store(&dir, &mut hist, &format!("{ctx}, rerun"));
        assert_eq!(after.state, State::Complete, "{ctx}: rerun");
        // The CA's serial is random; the server certificate takes the counter's next.
        let server = after
            .registry
            .iter()
            .rfind(|e| e.kind == Kind::Server)
            .unwrap();
        assert!(
            server.serial > snap.serial.unwrap_or(100),
            "{ctx}: the new server certificate reuses serial {} (serial.txt was {:?})",
            server.serial,
            snap.serial
        );
    }
    for l in &table {
        println!("{l}");
    }
    assert!(first_write_failed, "no init failed at its first write");
    assert!(part_way, "no init failed part-way");
    assert!(succeeded, "init never fitted in 12 pages");

    // sign with no free page: fails at serial.txt and consumes nothing.
    small.free_all();
    let _ = fs::remove_dir_all(&dir);
    let out = run(qnetd_cert(&dir, &["init"]));
    assert!(out.status.success(), "{}", text(&out));
    let mut hist = History::default();
    let sign = || sign_cmd(&dir, &csrs, LONG_CLUSTER);
    let out = run(sign());
    assert!(out.status.success(), "{}", text(&out));
    let before = check_store(&dir, &mut hist, "signed once");
    small.leave_free(0);
    let out = run(sign());
    let file = enospc_file(&out, &dir, "sign with 0 free pages");
    let snap = check_store(&dir, &mut hist, "sign with 0 free pages");
    println!(
        " 0 free pages: sign fails writing {file}; serial.txt {:?}",
        snap.serial
    );
    assert!(snap.temps.is_empty(), "left {:?}", snap.temps);
    assert_eq!(
        snap.serial, before.serial,
        "a failed sign consumed a serial"
    );
    assert_eq!(snap.registry, before.registry);
    assert_eq!(snap.clusters, before.clusters);
    small.free_all();
    let out = run(sign());
    assert!(
        out.status.success(),
        "sign after freeing space: {}",
        text(&out)
    );
    let snap = check_store(&dir, &mut hist, "sign after freeing space");
    assert_eq!(
        snap.serial,
        before.serial.map(|s| s + 1),
        "the serial was not reused"
    );

    // sign with one free page, again and again: it fits until the registry needs one more page;
    // then the serial is taken (made durable first) but the registry write fails: that serial
    // is skipped for good, nothing else changes.
    let mut part_way = None;
    for i in 0..60 {
        let before = check_store(&dir, &mut hist, "before a sign with 1 free page");
        small.leave_free(1);
        let ctx = format!("sign {i} with 1 free page");
        let out = run(sign());
        let snap = check_store(&dir, &mut hist, &ctx);
        if out.status.success() {
            continue;
        }
        let file = enospc_file(&out, &dir, &ctx);
        assert!(snap.temps.is_empty(), "{ctx}: left {:?}", snap.temps);
        assert_eq!(snap.registry, before.registry, "{ctx}: registry changed");
        assert_eq!(snap.clusters, before.clusters, "{ctx}: certificate changed");
        let taken = snap.serial.unwrap();
        assert!(
            snap.registry
                .iter()
                .all(|e| e.kind == Kind::Ca || e.serial < taken),
            "{ctx}: the consumed serial {taken} is recorded"
        );
        println!(
            " 1 free page, registry of {} bytes: sign fails writing {file}; serial.txt {:?} -> {taken}",
            fs::metadata(dir.join(certtool::REGISTRY_FILE)).unwrap().len(),
            before.serial
        );
        small.free_all();
        let out = run(sign());
        assert!(
            out.status.success(),
            "{ctx}: after freeing space: {}",
            text(&out)
        );
        let after = check_store(&dir, &mut hist, &format!("{ctx}, rerun"));
        let new = after.registry.last().unwrap();
        assert_eq!(new.name, LONG_CLUSTER);
        assert_eq!(
            after.clusters.get(LONG_CLUSTER),
            Some(&new.sha256),
            "{ctx}: rerun did not store its certificate"
        );
        assert!(new.serial > taken, "{ctx}: serial {taken} reused");
        part_way = Some(taken);
        break;
    }
    assert!(
        part_way.is_some(),
        "60 signs with one free page never failed part-way (registry never crossed a page?)"
    );
    drop(small);
    let _ = fs::remove_dir_all(&base);
}

/// Finishing an interrupted init must not replace a CA something was signed with: a store
/// that lost its CA export after signing is still refused by `init` and by `-i`.
#[test]
fn a_partial_store_that_signed_something_is_not_taken_for_an_interrupted_init() {
    let base = temp_root("partial");
    let csrs = base.join("requests");
    make_requests(&csrs, &["kill"]);
    let certutil = base.join("corosync-qnetd-certutil");
    std::os::unix::fs::symlink(QNETD, &certutil).unwrap();
    let dir = base.join("store");
    let out = run(qnetd_cert(&dir, &["init"]));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(sign_cmd(&dir, &csrs, "kill"));
    assert!(out.status.success(), "{}", text(&out));
    let ca_file = dir.join(certtool::CA_CERT_FILE);
    let registry_file = dir.join(certtool::REGISTRY_FILE);
    let ca_export = fs::read(&ca_file).unwrap();
    let registry_text = fs::read_to_string(&registry_file).unwrap();
    fs::remove_file(&ca_file).unwrap();

    let refused = |what: &str| {
        let out = run(qnetd_cert(&dir, &["init"]));
        assert!(
            !out.status.success(),
            "{what}: init replaced the CA: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("incomplete"),
            "{what}: {}",
            text(&out)
        );
        let out = run({
            let mut c = Command::new(&certutil);
            c.arg("-i").env("QNETD_CERT_DIR", &dir);
            c
        });
        assert!(
            !out.status.success(),
            "{what}: -i replaced the CA: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("already exists"),
            "{what}: {}",
            text(&out)
        );
        assert!(!ca_file.exists(), "{what}: a new CA was made");
    };
    refused("cluster certificate in the registry and on disk");
    // Registry without the cluster entry (as a store written before the entry came first
    // could be): the cluster file alone still counts.
    let without: String = registry_text
        .lines()
        .filter(|l| !l.contains("\tcluster\t"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&registry_file, without).unwrap();
    refused("cluster certificate on disk only");
    // The CA export back: the store is complete and usable again, nothing was touched.
    fs::write(&ca_file, ca_export).unwrap();
    CertStore::open(&dir).unwrap().server_credentials().unwrap();
    let _ = fs::remove_dir_all(&base);
}
