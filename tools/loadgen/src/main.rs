//! loadgen: drives a qnetd-compatible daemon with simulated qdevice-net nodes and measures it.
//!
//! Single-threaded (one smol executor, one task per node and per cluster), so it loads one
//! core; the daemon under test is pinned to another one. See tools/bench/side-by-side.sh.

// A measuring tool: it prints with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

mod certs;
mod client;
mod cluster;
mod conn;
mod daemon;
mod memory;
mod report;
mod run;
mod tls;
mod wire;

use argh::FromArgs;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Load generator and side-by-side benchmark for qnetd and corosync-qnetd.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    cmd: Cmd,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Cmd {
    Certs(CertsArgs),
    Memory(MemoryArgs),
    Run(RunArgs),
    Table(TableArgs),
}

/// Create (or complete) a benchmark PKI: CA, "Qnetd Server" certificate, one client
/// certificate per cluster.
#[derive(FromArgs)]
#[argh(subcommand, name = "certs")]
struct CertsArgs {
    /// directory for the PEM files
    #[argh(option)]
    dir: PathBuf,
    /// number of cluster certificates
    #[argh(option, default = "1")]
    clusters: usize,
    /// take the CA and server certificate from this qnetd store (`qnetd cert init`)
    #[argh(option)]
    store: Option<PathBuf>,
}

/// Bytes of daemon memory per client, typical and worst case (longest cluster name, fullest
/// node lists; PREINIT only under --tls required), each on a fresh daemon (the command after
/// `--`, which must accept -p, -m, --tls and -S as qnetd run does; give it --store for TLS).
#[derive(FromArgs)]
#[argh(subcommand, name = "memory")]
struct MemoryArgs {
    /// address the daemon listens on
    #[argh(option, default = "\"127.0.0.1:35404\".parse().unwrap()")]
    addr: std::net::SocketAddr,
    /// clients per scenario
    #[argh(option, default = "300")]
    clients: usize,
    /// worst-case cluster name length in bytes (default: the daemon's cap)
    #[argh(option, default = "qnetd::engine::limits::MAX_CLUSTER_NAME_LEN")]
    name_len: usize,
    /// worst-case nodes per list (default: the daemon's cap)
    #[argh(option, default = "qnetd::engine::limits::MAX_NODE_LIST_LEN")]
    list_len: usize,
    /// PKI directory (see `certs`, made from the daemon's --store): adds the TLS scenarios
    #[argh(option)]
    pki: Option<PathBuf>,
    /// file the daemon's output is appended to
    #[argh(option, default = "PathBuf::from(\"daemon.log\")")]
    log: PathBuf,
    /// the daemon command line
    #[argh(positional, greedy)]
    daemon: Vec<String>,
}

/// Start a daemon (the command after `--`), run ramp-up, idle, churn and restart phases
/// against it, print one result line.
#[derive(FromArgs)]
#[argh(subcommand, name = "run")]
struct RunArgs {
    /// label for the result line (e.g. qnetd, upstream)
    #[argh(option)]
    name: String,
    /// address the daemon listens on
    #[argh(option, default = "\"127.0.0.1:35403\".parse().unwrap()")]
    addr: std::net::SocketAddr,
    /// number of clusters
    #[argh(option, default = "1")]
    clusters: usize,
    /// nodes per cluster
    #[argh(option, default = "2")]
    nodes: usize,
    /// heartbeat interval in ms sent in INIT (real clients: 8000)
    #[argh(option, default = "8000")]
    heartbeat_ms: u64,
    /// PKI directory (see `certs`); without it clients do not start TLS
    #[argh(option)]
    pki: Option<PathBuf>,
    /// new client connections per second during ramp-up
    #[argh(option, default = "200.0")]
    ramp_rate: f64,
    /// seconds of idle heartbeats before measuring memory
    #[argh(option, default = "10")]
    idle_secs: u64,
    /// seconds of membership churn
    #[argh(option, default = "10")]
    churn_secs: u64,
    /// membership changes per second during churn (spread over the clusters)
    #[argh(option, default = "50.0")]
    churn_rate: f64,
    /// CPU to pin the daemon to (the load generator takes CPU 0); -1 = no pinning
    #[argh(option, default = "1")]
    daemon_cpu: i64,
    /// file the daemon's output is appended to
    #[argh(option, default = "PathBuf::from(\"daemon.log\")")]
    log: PathBuf,
    /// file the result line is appended to
    #[argh(option)]
    out: Option<PathBuf>,
    /// the daemon command line
    #[argh(positional, greedy)]
    daemon: Vec<String>,
}

/// Print the side-by-side table of the result lines in a file.
#[derive(FromArgs)]
#[argh(subcommand, name = "table")]
struct TableArgs {
    /// file with result lines
    #[argh(positional)]
    results: PathBuf,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let result = match args.cmd {
        Cmd::Certs(a) => certs::ensure(&a.dir, a.clusters, a.store.as_deref()),
        Cmd::Memory(a) => {
            daemon::raise_fd_limit();
            memory::run(
                &a.daemon,
                a.addr,
                a.clients,
                a.name_len,
                a.list_len,
                a.pki.as_deref(),
                &a.log,
            )
        }
        Cmd::Run(a) => run_cmd(a),
        Cmd::Table(a) => table_cmd(&a.results),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_cmd(a: RunArgs) -> Result<(), String> {
    let limit = daemon::raise_fd_limit();
    let clients = a.clusters * a.nodes;
    // Each client needs a socket here and one in the daemon, plus some slack.
    if (limit as usize) < clients + 64 {
        return Err(format!(
            "open-files limit {limit} is too low for {clients} clients (raise `ulimit -Hn`)"
        ));
    }
    let daemon_cpu = usize::try_from(a.daemon_cpu).ok();
    if daemon_cpu.is_some() {
        // Best effort: a machine with one CPU just shares it.
        let _ = daemon::pin_to_cpu(0);
    }
    let cfg = run::RunConfig {
        name: a.name,
        addr: a.addr,
        clusters: a.clusters,
        nodes: a.nodes,
        heartbeat: Duration::from_millis(a.heartbeat_ms),
        pki: a.pki,
        ramp_rate: a.ramp_rate,
        idle: Duration::from_secs(a.idle_secs),
        churn: Duration::from_secs(a.churn_secs),
        churn_rate: a.churn_rate,
        daemon_cpu,
        log: a.log,
        daemon_argv: a.daemon,
    };
    let line = run::run(cfg)?.to_line();
    println!("{line}");
    if let Some(out) = a.out {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out)
            .map_err(|e| format!("{}: {e}", out.display()))?;
        writeln!(f, "{line}").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn table_cmd(path: &std::path::Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let results: Vec<report::ResultLine> =
        text.lines().filter_map(report::ResultLine::parse).collect();
    if results.is_empty() {
        return Err(format!("no result lines in {}", path.display()));
    }
    print!("{}", report::table(&results));
    Ok(())
}
