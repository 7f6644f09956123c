//! Why the daemon stops: a signal, the status socket's `shutdown` or a failed background TLS
//! setup. The log line says it; whether the exit is a failure is decided here, from the
//! reason.

use std::fmt;

#[derive(Debug)]
pub enum Stop {
    /// SIGTERM, SIGINT or another signal we asked for.
    Signal(async_signal::Signal),
    /// Reading the signals failed.
    SignalsFailed(std::io::Error),
    /// The signal stream ended.
    SignalsEnded,
    /// A client of the status socket asked for it.
    StatusShutdown,
    /// The TLS setup that ran in the background failed (its error is logged).
    TlsSetupFailed,
}

impl Stop {
    /// A stop nobody asked for: the daemon exits with a failure, so that a service manager
    /// sees it failed.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Stop::Signal(_) | Stop::StatusShutdown)
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Signal(async_signal::Signal::Term) => f.write_str("received SIGTERM"),
            Stop::Signal(async_signal::Signal::Int) => f.write_str("received SIGINT"),
            Stop::Signal(sig) => write!(f, "received {sig:?}"),
            Stop::SignalsFailed(e) => write!(f, "signal handling failed: {e}"),
            Stop::SignalsEnded => f.write_str("signal stream ended"),
            Stop::StatusShutdown => f.write_str("shutdown requested on the status socket"),
            Stop::TlsSetupFailed => f.write_str("TLS setup failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stop_asked_for_is_a_success() {
        assert!(!Stop::Signal(async_signal::Signal::Term).is_failure());
        assert!(!Stop::StatusShutdown.is_failure());
        assert!(Stop::TlsSetupFailed.is_failure());
        assert!(Stop::SignalsEnded.is_failure());
        assert_eq!(
            Stop::Signal(async_signal::Signal::Int).to_string(),
            "received SIGINT"
        );
        assert_eq!(Stop::TlsSetupFailed.to_string(), "TLS setup failed");
    }
}
