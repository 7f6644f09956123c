//! The accept loop of every listener of the daemon: the qnetd port, HTTP and the status
//! socket. It accepts, backs off when accepting fails, asks the listener whether to serve
//! the connection (its [`super::admission::Admission`] gives the connection's place, a
//! [`super::admission::Ticket`] released on drop) and spawns the connection's task.

use super::{ratelog, spawn, Task};
use smol::{LocalExecutor, Timer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

/// How long to wait after a failed accept before the next one.
const BACK_OFF: Duration = Duration::from_millis(100);

/// The daemon's listeners, as their log lines name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The qnetd port (`-p`).
    Qnetd,
    /// `--http`.
    Http,
    /// The local status socket.
    Status,
}

impl Port {
    /// The rate-limited kind of a failed accept's log line.
    fn accept_failed(self) -> &'static str {
        match self {
            Port::Qnetd => "accept failed",
            Port::Http => "http accept failed",
            Port::Status => "status socket accept failed",
        }
    }

    /// What the log line begins with.
    fn prefix(self) -> &'static str {
        match self {
            Port::Qnetd => "accept failed",
            Port::Http => "HTTP accept failed",
            Port::Status => "status socket: accept failed",
        }
    }
}

/// Accepts connections forever. `admit` decides on each accepted one: its task (holding the
/// connection's ticket), spawned on `ex`, or None to close it (`admit` counts and logs the
/// refusal). After each spawn the loop yields once, so the new task reads a request already
/// waiting before the next accept (the status socket's idle check relies on it).
pub async fn accept_loop<'ex, C, P, F>(
    ex: &LocalExecutor<'ex>,
    port: Port,
    accept: impl Fn() -> F,
    mut admit: impl FnMut(C, P) -> Option<Task<'ex>>,
) -> Infallible
where
    F: Future<Output = io::Result<(C, P)>>,
{
    loop {
        let (conn, peer) = match accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                ratelog::log(
                    log::Level::Warn,
                    port.accept_failed(),
                    format_args!("{}: {e}", port.prefix()),
                );
                Timer::after(BACK_OFF).await;
                continue;
            }
        };
        if let Some(task) = admit(conn, peer) {
            spawn(ex, task);
            smol::future::yield_now().await;
        }
    }
}
