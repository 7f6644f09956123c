//! One benchmark run against one daemon: ramp-up, idle, churn, restart; prints one result line.

use crate::client::{Counters, Node};
use crate::cluster::{Coordinator, Phase, Votes};
use crate::daemon::{self, Daemon, Usage};
use crate::report::{percentile, ResultLine};
use crate::{certs, tls};
use smol::channel::Sender;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub struct RunConfig {
    pub name: String,
    pub addr: SocketAddr,
    pub clusters: usize,
    pub nodes: usize,
    pub heartbeat: Duration,
    pub pki: Option<PathBuf>,
    pub ramp_rate: f64,
    pub idle: Duration,
    pub churn: Duration,
    pub churn_rate: f64,
    pub daemon_cpu: Option<usize>,
    pub log: PathBuf,
    pub daemon_argv: Vec<String>,
}

struct Shared {
    counters: Rc<RefCell<Counters>>,
    votes: Rc<RefCell<Votes>>,
    churn: Vec<Sender<()>>,
}

pub fn run(cfg: RunConfig) -> Result<ResultLine, String> {
    let ex = Rc::new(smol::LocalExecutor::new());
    smol::block_on(ex.run(run_phases(ex.clone(), cfg)))
}

fn log(msg: &str) {
    eprintln!("[loadgen] {msg}");
}

async fn run_phases(
    ex: Rc<smol::LocalExecutor<'static>>,
    cfg: RunConfig,
) -> Result<ResultLine, String> {
    let clients = cfg.clusters * cfg.nodes;
    let mut r = ResultLine {
        name: cfg.name.clone(),
        clusters: cfg.clusters,
        clients,
        tls: cfg.pki.is_some(),
        ..ResultLine::default()
    };
    let mut d = Daemon::spawn(&cfg.daemon_argv, &cfg.log, cfg.daemon_cpu)?;
    log(&format!(
        "{}: started pid {} ({})",
        cfg.name,
        d.pid(),
        d.command_line()
    ));
    d.wait_listening(cfg.addr, Duration::from_secs(20)).await?;
    smol::Timer::after(Duration::from_millis(300)).await;
    let base = d.usage()?;
    r.rss_base_kib = base.vm_rss_kib;
    r.anon_base_kib = base.rss_anon_kib;

    let shared = start_clients(&ex, &cfg)?;
    let mut daemon = Some(d);
    let outcome = phases(&cfg, &shared, &mut daemon, &mut r).await;
    shared.counters.borrow_mut().stop = true;
    if let Err((phase, e)) = outcome {
        // A daemon that died explains the error better than the symptom the clients saw.
        let why = match daemon.as_mut().and_then(Daemon::exited) {
            Some(status) => format!("daemon died ({status})"),
            None => e,
        };
        r.failure = format!("{phase}: {why}");
        log(&format!("{}: FAILED in {}", cfg.name, r.failure));
    }
    if let Some(d) = daemon {
        let how = d.stop(Duration::from_secs(10)).await;
        log(&format!("{}: stopped ({how})", cfg.name));
    }

    let votes = shared.votes.borrow();
    let churn_lat: Vec<u64> = votes
        .latencies_us
        .iter()
        .filter(|(ph, _)| *ph == Phase::Churn)
        .map(|(_, us)| *us)
        .collect();
    r.vote_samples = churn_lat.len();
    r.vote_p50_ms = percentile(&churn_lat, 50.0) as f64 / 1000.0;
    r.vote_p99_ms = percentile(&churn_lat, 99.0) as f64 / 1000.0;
    r.vote_timeouts = votes.timeouts;
    let counters = shared.counters.borrow();
    r.refused = counters.refused;
    r.dropped = counters.dropped;
    if let Some(e) = &counters.last_error {
        log(&format!("{}: last client error: {e}", cfg.name));
    }
    Ok(r)
}

type PhaseError = (&'static str, String);

fn in_phase<T>(phase: &'static str, r: Result<T, String>) -> Result<T, PhaseError> {
    r.map_err(|e| (phase, e))
}

/// Ramp-up, idle, churn, restart; fills `r` as figures come in, so a run that fails half-way
/// still reports what it measured.
async fn phases(
    cfg: &RunConfig,
    shared: &Shared,
    daemon: &mut Option<Daemon>,
    r: &mut ResultLine,
) -> Result<(), PhaseError> {
    let hz = daemon::clock_ticks_per_sec() as f64;
    let Some(d) = daemon.as_mut() else {
        return Err(("start", "no daemon".into()));
    };
    shared.counters.borrow_mut().daemon_up = true;
    shared.votes.borrow_mut().phase = Some(Phase::Ramp);

    // Ramp-up: every cluster connected and voted.
    let t = Instant::now();
    let ramp_limit =
        Duration::from_secs(60) + Duration::from_secs_f64(r.clients as f64 / cfg.ramp_rate) * 2;
    in_phase(
        "ramp-up",
        wait_settled(shared, d, cfg.clusters, ramp_limit).await,
    )?;
    r.ramp_s = t.elapsed().as_secs_f64();
    log(&format!(
        "{}: {} clients ready and voted in {:.2} s",
        cfg.name, r.clients, r.ramp_s
    ));

    // Idle: heartbeats only.
    let before_idle = in_phase("idle", d.usage())?;
    smol::Timer::after(cfg.idle).await;
    let idle = in_phase("idle", d.usage())?;
    in_phase("idle", check_alive(d))?;
    r.rss_idle_kib = idle.vm_rss_kib;
    r.anon_idle_kib = idle.rss_anon_kib;
    r.hwm_kib = idle.vm_hwm_kib;
    r.bytes_per_client =
        idle.vm_rss_kib.saturating_sub(r.rss_base_kib) * 1024 / r.clients.max(1) as u64;
    r.idle_cpu_s = cpu_between(&before_idle, &idle, hz);
    r.cpu_s = idle.cpu_ticks as f64 / hz;

    // Churn: membership changes at a steady rate, spread over the clusters.
    shared.votes.borrow_mut().phase = Some(Phase::Churn);
    let orders = (cfg.churn.as_secs_f64() * cfg.churn_rate).round() as usize;
    let gap = Duration::from_secs_f64(1.0 / cfg.churn_rate.max(0.001));
    let t = Instant::now();
    for k in 0..orders {
        smol::Timer::at(t + gap * k as u32).await;
        let _ = shared.churn[k % cfg.clusters].try_send(());
    }
    in_phase(
        "churn",
        wait_settled(shared, d, cfg.clusters, Duration::from_secs(120)).await,
    )?;
    in_phase("churn", check_alive(d))?;
    let after_churn = in_phase("churn", d.usage())?;
    r.hwm_kib = after_churn.vm_hwm_kib;
    r.cpu_s = after_churn.cpu_ticks as f64 / hz;
    log(&format!("{}: churn done ({orders} changes)", cfg.name));

    // Restart: stop the daemon, start it again, time until every cluster voted again.
    shared.votes.borrow_mut().phase = Some(Phase::Restart);
    shared.counters.borrow_mut().daemon_up = false;
    if let Some(old) = daemon.take() {
        let how = old.stop(Duration::from_secs(10)).await;
        log(&format!("{}: stopped ({how})", cfg.name));
    }
    in_phase(
        "restart",
        wait_unsettled(shared, Duration::from_secs(60)).await,
    )?;
    let t = Instant::now();
    let d = daemon.insert(in_phase(
        "restart",
        Daemon::spawn(&cfg.daemon_argv, &cfg.log, cfg.daemon_cpu),
    )?);
    in_phase(
        "restart",
        d.wait_listening(cfg.addr, Duration::from_secs(20)).await,
    )?;
    shared.counters.borrow_mut().daemon_up = true;
    in_phase(
        "restart",
        wait_settled(shared, d, cfg.clusters, Duration::from_secs(300)).await,
    )?;
    r.restart_s = t.elapsed().as_secs_f64();
    let after_restart = in_phase("restart", d.usage())?;
    r.hwm_kib = r.hwm_kib.max(after_restart.vm_hwm_kib);
    r.cpu_s += after_restart.cpu_ticks as f64 / hz;
    log(&format!(
        "{}: all {} clients back and voted {:.2} s after the restart",
        cfg.name, r.clients, r.restart_s
    ));
    Ok(())
}

fn cpu_between(a: &Usage, b: &Usage, hz: f64) -> f64 {
    b.cpu_ticks.saturating_sub(a.cpu_ticks) as f64 / hz
}

fn check_alive(d: &mut Daemon) -> Result<(), String> {
    if d.alive() {
        Ok(())
    } else {
        Err("the daemon died during the run".into())
    }
}

fn start_clients(ex: &Rc<smol::LocalExecutor<'static>>, cfg: &RunConfig) -> Result<Shared, String> {
    let pki = match &cfg.pki {
        Some(dir) => {
            certs::ensure(dir, cfg.clusters, None)?;
            Some(tls::Pki::load(dir)?)
        }
        None => None,
    };
    let counters = Rc::new(RefCell::new(Counters::default()));
    let votes = Rc::new(RefCell::new(Votes::default()));
    let mut churn = Vec::with_capacity(cfg.clusters);
    let node_ids: Vec<u32> = (1..=cfg.nodes as u32).collect();
    for c in 0..cfg.clusters {
        let name = certs::cluster_name(c);
        let tls = match &pki {
            Some(p) => Some(p.client_config(&name)?),
            None => None,
        };
        let (ev_tx, ev_rx) = smol::channel::unbounded();
        let (churn_tx, churn_rx) = smol::channel::unbounded();
        let mut commands = Vec::new();
        for (i, id) in node_ids.iter().enumerate() {
            let (cmd_tx, cmd_rx) = smol::channel::unbounded();
            commands.push(cmd_tx);
            let node = Node {
                addr: cfg.addr,
                cluster: name.clone(),
                index: i,
                node_id: *id,
                config_nodes: node_ids.clone(),
                heartbeat: cfg.heartbeat,
                tls: tls.clone(),
                events: ev_tx.clone(),
                commands: cmd_rx,
                counters: counters.clone(),
            };
            let k = c * cfg.nodes + i;
            let delay = Duration::from_secs_f64(k as f64 / cfg.ramp_rate);
            ex.spawn(node.run(delay)).detach();
        }
        let coord = Coordinator {
            node_ids: node_ids.clone(),
            commands,
            events: ev_rx,
            churn: churn_rx,
            votes: votes.clone(),
            vote_wait: cfg.heartbeat,
        };
        ex.spawn(coord.run()).detach();
        churn.push(churn_tx);
    }
    Ok(Shared {
        counters,
        votes,
        churn,
    })
}

/// Waits until every cluster holds its votes; fails at once if the daemon dies (and stops
/// the clients from counting refusals against a daemon that is gone).
async fn wait_settled(
    shared: &Shared,
    d: &mut Daemon,
    clusters: usize,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    // Queued churn orders count as unsettled too.
    while shared.votes.borrow().settled < clusters || shared.churn.iter().any(|c| !c.is_empty()) {
        if let Some(status) = d.exited() {
            shared.counters.borrow_mut().daemon_up = false;
            return Err(format!("daemon died ({status})"));
        }
        if Instant::now() > deadline {
            let settled = shared.votes.borrow().settled;
            let last = shared
                .counters
                .borrow()
                .last_error
                .clone()
                .unwrap_or_default();
            return Err(format!(
                "only {settled} of {clusters} clusters voted after {limit:?} (last client error: {last})"
            ));
        }
        smol::Timer::after(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn wait_unsettled(shared: &Shared, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while shared.votes.borrow().settled > 0 {
        if Instant::now() > deadline {
            return Err("clients did not notice the daemon stop".into());
        }
        smol::Timer::after(Duration::from_millis(10)).await;
    }
    Ok(())
}
