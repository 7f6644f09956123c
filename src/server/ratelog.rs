//! The daemon's rate-limited log lines (see [`crate::ratelog`]) at the clock's time, and the
//! task that reports what was suppressed.

use std::time::{Duration, Instant};

use crate::ratelog::log_at;

/// Log `message` at `level` unless too many of `kind` were logged lately.
pub fn log(level: log::Level, kind: &'static str, message: std::fmt::Arguments<'_>) {
    log_at(Instant::now(), level, kind, message);
}

/// Report what was suppressed in intervals that are over, every second, forever (the
/// daemon's task).
pub async fn flush_every_second() -> std::convert::Infallible {
    loop {
        smol::Timer::after(Duration::from_secs(1)).await;
        crate::ratelog::flush_at(Instant::now());
    }
}
