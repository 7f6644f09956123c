//! Whether the service install started really serves: its status socket answers within a
//! bound. A daemon that exits at once (a store it cannot read, a port in use) makes install
//! fail with the last lines the daemon logged, instead of "start: done".

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::status_client::{self as client, Reply};

pub use crate::status::ipc::DEFAULT_SOCKET as SOCKET;

/// How long a start may take to answer: the daemon listens before anything slow (TLS setup
/// waits for the random pool on a thread), so a healthy one answers in milliseconds.
pub const BOUND: Duration = Duration::from_secs(5);
/// Lines of the log shown when it does not answer.
const LOG_LINES: usize = 15;

/// Ok once the daemon answers a status request; else an error with its recent log.
pub fn check() -> Result<(), String> {
    let deadline = Instant::now() + BOUND;
    let mut last = String::new();
    while Instant::now() < deadline {
        match client::exchange_within(Path::new(SOCKET), b"table \n", Duration::from_secs(1)) {
            Ok(raw) if matches!(client::parse_reply(&raw), Reply::Ok(_)) => return Ok(()),
            Ok(_) => last = "an unexpected reply".into(),
            Err(client::ClientError::Connect(e)) => {
                last = format!("cannot connect: {}", client::strerror(&e))
            }
            Err(client::ClientError::Io(e)) => last = client::strerror(&e),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "the daemon did not answer on {SOCKET} within {} s ({last}); the service is not \
         serving. Its last log lines (`logread -e qnetd`):\n{}",
        BOUND.as_secs(),
        log_tail()
    ))
}

/// The daemon's recent lines from the system log (procd sends its stdout and stderr there);
/// a hint when logread cannot be run.
fn log_tail() -> String {
    let out = Command::new("logread").args(["-e", "qnetd"]).output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        return "  (logread failed: see `logread -e qnetd`)".into();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_LINES)..];
    if tail.is_empty() {
        return "  (nothing logged)".into();
    }
    tail.iter()
        .map(|l| format!("  {l}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}
