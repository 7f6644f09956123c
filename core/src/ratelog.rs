//! Rate-limited log lines for what a flood repeats: each kind of message (a handshake timeout,
//! a refusal at accept, ...) is logged at most [`BURST`] times per [`INTERVAL`]; the rest are
//! counted and reported as one "N similar messages suppressed" line once the interval is over.
//! 2,000 idle connections used to write 2,000 lines in 30 s, pushing everything useful out of
//! a router's small log buffer.
//!
//! [`RateLog`] is the pure logic, with the time passed in. The daemon is one thread, so its
//! instance is a thread-local behind [`log_at`] and [`flush_at`]: the engine logs through it
//! with the time it was given, the driver with the clock's (`server::ratelog`), which also
//! flushes it every second.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Messages of one kind logged per interval before the rest are counted instead.
pub const BURST: u32 = 5;
/// The length of one interval.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it; `suppressed` messages of its kind were dropped in the interval before (report
    /// them first).
    Log { suppressed: u64 },
    /// Count it only.
    Suppress,
}

#[derive(Debug)]
struct Window {
    kind: &'static str,
    start: Instant,
    logged: u32,
    suppressed: u64,
}

/// Per-kind windows. The kinds are the daemon's few string constants, so a list searched in
/// order serves (and spares the core a hash map of its own).
#[derive(Debug)]
pub struct RateLog {
    burst: u32,
    interval: Duration,
    windows: Vec<Window>,
}

impl RateLog {
    pub fn new(burst: u32, interval: Duration) -> RateLog {
        RateLog {
            burst,
            interval,
            windows: Vec::new(),
        }
    }

    /// One message of `kind` at `now`.
    pub fn check(&mut self, kind: &'static str, now: Instant) -> Verdict {
        let interval = self.interval;
        let fresh = Window {
            kind,
            start: now,
            logged: 0,
            suppressed: 0,
        };
        let w = match self.windows.iter().position(|w| w.kind == kind) {
            Some(i) => &mut self.windows[i],
            None => {
                self.windows.push(fresh);
                let last = self.windows.len() - 1;
                &mut self.windows[last]
            }
        };
        let mut suppressed = 0;
        if now.saturating_duration_since(w.start) >= interval {
            suppressed = w.suppressed;
            *w = Window {
                kind,
                start: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < self.burst {
            w.logged += 1;
            Verdict::Log { suppressed }
        } else {
            w.suppressed += 1;
            Verdict::Suppress
        }
    }

    /// The kinds whose interval is over, with how many messages were suppressed in it (only
    /// those with some); their windows are forgotten, so a quiet daemon keeps no state.
    pub fn due(&mut self, now: Instant) -> Vec<(&'static str, u64)> {
        let interval = self.interval;
        let mut out = Vec::new();
        self.windows.retain(|w| {
            if now.saturating_duration_since(w.start) < interval {
                return true;
            }
            if w.suppressed > 0 {
                out.push((w.kind, w.suppressed));
            }
            false
        });
        out.sort_unstable();
        out
    }
}

thread_local! {
    static DAEMON_LOG: RefCell<RateLog> = RefCell::new(RateLog::new(BURST, INTERVAL));
}

fn report(kind: &str, suppressed: u64) {
    log::warn!(
        "{suppressed} similar messages suppressed ({kind}) in the last {} s",
        INTERVAL.as_secs()
    );
}

/// Log `message` at `level` unless too many of `kind` were logged lately; `now` is the
/// caller's (the engine reads no clock).
pub fn log_at(
    now: Instant,
    level: log::Level,
    kind: &'static str,
    message: std::fmt::Arguments<'_>,
) {
    let verdict = DAEMON_LOG.with(|r| r.borrow_mut().check(kind, now));
    if let Verdict::Log { suppressed } = verdict {
        if suppressed > 0 {
            report(kind, suppressed);
        }
        log::log!(level, "{message}");
    }
}

/// Report what was suppressed in intervals that are over at `now`.
pub fn flush_at(now: Instant) {
    let due = DAEMON_LOG.with(|r| r.borrow_mut().due(now));
    for (kind, suppressed) in due {
        report(kind, suppressed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_is_logged_then_counted_then_reported() {
        let t0 = Instant::now();
        let mut r = RateLog::new(3, 10 * S);
        let verdicts: Vec<Verdict> = (0..10).map(|_| r.check("timeout", t0)).collect();
        assert_eq!(verdicts[..3], [Verdict::Log { suppressed: 0 }; 3]);
        assert!(verdicts[3..].iter().all(|v| *v == Verdict::Suppress));
        // Not over yet: nothing due.
        assert_eq!(r.due(t0 + 9 * S), vec![]);
        assert_eq!(r.due(t0 + 10 * S), vec![("timeout", 7)]);
        // Forgotten once reported: the next message starts afresh.
        assert_eq!(r.due(t0 + 30 * S), vec![]);
        assert_eq!(
            r.check("timeout", t0 + 31 * S),
            Verdict::Log { suppressed: 0 }
        );
    }

    #[test]
    fn the_next_message_after_the_interval_carries_the_count() {
        let t0 = Instant::now();
        let mut r = RateLog::new(1, 10 * S);
        assert_eq!(r.check("a", t0), Verdict::Log { suppressed: 0 });
        assert_eq!(r.check("a", t0 + S), Verdict::Suppress);
        assert_eq!(r.check("a", t0 + 2 * S), Verdict::Suppress);
        assert_eq!(r.check("a", t0 + 11 * S), Verdict::Log { suppressed: 2 });
        assert_eq!(r.due(t0 + 30 * S), vec![]);
    }

    #[test]
    fn kinds_are_counted_apart() {
        let t0 = Instant::now();
        let mut r = RateLog::new(1, 10 * S);
        assert_eq!(r.check("a", t0), Verdict::Log { suppressed: 0 });
        assert_eq!(r.check("b", t0), Verdict::Log { suppressed: 0 });
        assert_eq!(r.check("a", t0), Verdict::Suppress);
        assert_eq!(r.due(t0 + 10 * S), vec![("a", 1)]);
    }

    #[test]
    fn windows_with_nothing_suppressed_are_dropped_silently() {
        let t0 = Instant::now();
        let mut r = RateLog::new(5, 10 * S);
        r.check("a", t0);
        assert_eq!(r.due(t0 + 10 * S), vec![]);
        assert!(r.windows.is_empty());
    }
}
