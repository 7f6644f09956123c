//! What the commands print, and what happens when nobody reads it any more.
//!
//! std's `println!` panics when stdout is a closed pipe (`qnetd cert list | head -1`), which
//! in the release build (panic = abort) is a core-dump exit 134 with a panic message. A Unix
//! tool dies of SIGPIPE there instead, quietly. The standard library ignores SIGPIPE before
//! `main`, and restoring its default action needs `unsafe` libc (rustix has no safe call for
//! it); the daemon also relies on SIGPIPE staying ignored when a client hangs up while it
//! writes. So the crate prints with `outln!`/`out!` (defined here), which end the program with
//! 141, what a shell reports for a tool SIGPIPE ended, and `errln!`, which drops what it
//! cannot write to a closed stderr. std's `println!` family is refused by clippy
//! (`disallowed-macros` in clippy.toml), so no command prints around them.

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

/// Exit status for "stdout was closed": 128 + SIGPIPE, as a shell reports a tool SIGPIPE ended.
pub const CLOSED_OUTPUT_EXIT: i32 = 141;

/// Writes `args` (and a newline if `newline`) to stdout; a write that fails ends the program.
pub fn stdout(args: Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        output_failed(&e);
    }
}

/// Writes `args` and a newline to stderr, ignoring failure: there is nowhere left to report it.
pub fn stderr(args: Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

fn output_failed(e: &std::io::Error) -> ! {
    if e.kind() != ErrorKind::BrokenPipe {
        stderr(format_args!("qnetd: cannot write the output: {e}"));
        std::process::exit(1);
    }
    std::process::exit(CLOSED_OUTPUT_EXIT)
}

/// Like std's `println!`, except that a closed stdout ends the program quietly (see the module).
macro_rules! outln {
    () => {
        $crate::output::stdout(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*), true)
    };
}

/// Like std's `print!`, except that a closed stdout ends the program quietly (see the module).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*), false)
    };
}

/// Like std's `eprintln!`, except that a closed stderr is not a panic (see the module).
macro_rules! errln {
    () => {
        $crate::output::stderr(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!($($arg)*))
    };
}
