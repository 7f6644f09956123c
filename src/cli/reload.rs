//! `qnetd reload`: makes the running daemon read the revoked certificates again and drop the
//! nodes connected with one, by sending it SIGHUP (what `/etc/init.d/qnetd reload` has procd send too).
//!
//! The daemon is found through its lock file: it holds an exclusive lock on it for its whole
//! life and wrote its pid into it. A lock file nobody holds is a daemon that is not running
//! (its pid may belong to another process by now), so we signal only while the lock is held.
//! The daemon logs what the reload did; this command only says that it asked.
//!
//! Exit status: 0 SIGHUP sent, 1 failed (e.g. not allowed to signal it), 2 bad command line,
//! 3 not running (as `qnetd status`).

use crate::settings::DEFAULT_LOCK_FILE;
use argh::FromArgs;
use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// make the running daemon re-read the revoked certificates (`qnetd cert revoke`) and drop the nodes connected with one (sends SIGHUP; exit 3 if not running)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reload")]
pub struct ReloadArgs {
    /// the daemon's lock file (default /var/run/corosync-qnetd/corosync-qnetd.pid)
    #[argh(option, default = "PathBuf::from(DEFAULT_LOCK_FILE)")]
    pub lock_file: PathBuf,
}

/// Why no signal was sent.
enum NotSent {
    NotRunning(String),
    Failed(String),
}

#[inline(never)] // see cli::main
pub fn main(args: ReloadArgs) -> ExitCode {
    match send_hup(&args.lock_file) {
        Ok(pid) => {
            outln!(
                "asked qnetd (pid {pid}) to reload: its log says how many certificates are \
                 revoked and which nodes it dropped"
            );
            ExitCode::SUCCESS
        }
        Err(NotSent::NotRunning(why)) => {
            errln!("qnetd reload: qnetd is not running ({why})");
            ExitCode::from(super::EXIT_NOT_RUNNING)
        }
        Err(NotSent::Failed(why)) => {
            errln!("qnetd reload: {why}");
            ExitCode::FAILURE
        }
    }
}

fn send_hup(lock_file: &Path) -> Result<i32, NotSent> {
    let shown = lock_file.display();
    let file = match std::fs::File::open(lock_file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NotSent::NotRunning(format!("no lock file {shown}")))
        }
        Err(e) => return Err(NotSent::Failed(format!("cannot open {shown}: {e}"))),
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        // We got it: nobody holds it. Dropping the file releases our lock again.
        Ok(()) => return Err(NotSent::NotRunning(format!("nobody holds {shown}"))),
        Err(Errno::WOULDBLOCK) => {}
        Err(e) => {
            return Err(NotSent::Failed(format!(
                "cannot test the lock on {shown}: {e}"
            )))
        }
    }
    let text = std::fs::read_to_string(lock_file)
        .map_err(|e| NotSent::Failed(format!("cannot read {shown}: {e}")))?;
    let pid = text
        .trim()
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| {
            NotSent::Failed(format!(
                "{shown} is held but holds no pid ({:?}): is it a qnetd lock file?",
                text.trim()
            ))
        })?;
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).map_err(|e| {
        NotSent::Failed(format!(
            "cannot send SIGHUP to pid {}: {e} (run it as the daemon's user or root)",
            pid.as_raw_nonzero()
        ))
    })?;
    Ok(pid.as_raw_nonzero().get())
}
